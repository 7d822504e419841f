"""python-mediator's ``mediator.common`` import paths, kept for compatibility."""
