"""Nodes on hosts of their own: network namespaces joined by a link with added delay."""
