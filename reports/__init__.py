"""PDF builders (session plan, handout, progress report) and their print CSS."""
