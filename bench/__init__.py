"""The benchmark of mediator-bus against a direct ``await`` and its peers: ``python -m bench``."""
