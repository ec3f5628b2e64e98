# Copy to instance/config.py and adjust. Environment variables (DATABASE_URL, SECRET_KEY)
# override what is set here.

# PostgreSQL in production (psycopg 3):
# SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://counselor:secret@localhost/counselor"

# Behind nginx or another TLS-terminating proxy: trust its X-Forwarded-* headers (one hop)
# so the session cookie is marked Secure and client addresses are right.
# COUNSELOR_PROXY_FIX = True

# Force the Secure flag on the session cookie regardless of how the request arrived.
# SESSION_COOKIE_SECURE = True

# Couples per dashboard page.
# COUNSELOR_COUPLES_PER_PAGE = 20
