"""The host's own reports: a package named ``reports``, like the one counselor_app once shipped
at the top level, to show that the two no longer collide."""
