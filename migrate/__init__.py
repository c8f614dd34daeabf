"""migrate: move traditional applications out of VM disk images and into containers."""

__version__ = "0.1.0"
