"""Inviting partners to answer on their own device."""
