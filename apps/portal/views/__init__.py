"""The portal's pages: the partner site (``partner``), the customer portal (``customer``), and what both share
(``shared``: login, liveness, and the two access decorators every page goes through)."""
