"""A partner's own pages, reached by their personal link."""
