# Run by the synapse-k8s charm in Synapse's container (python3 -c, as the synapse user):
# connects to PostgreSQL with Synapse's own driver and reports, as one JSON line, whether the
# database is fit for Synapse. The connection settings arrive as JSON on stdin, never in
# the arguments. With "fix_locale", an empty database whose collation or ctype is not C is
# switched to C (which needs the SUPERUSER role the charm requests, as upstream does). With
# "sqlite", it also counts the background updates Synapse has not finished there, which
# synapse_port_db requires to be done.
import json
import sys
import tempfile

settings = json.load(sys.stdin)
try:
    import psycopg2
except ImportError as error:
    print(json.dumps({"problem": "driver", "detail": str(error)}))
    sys.exit(0)
tls = {"sslmode": settings.get("sslmode", "prefer")}
if settings.get("ca"):
    # The provider's CA, to verify the server with, as Synapse will.
    ca = tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False)
    ca.write(settings["ca"])
    ca.close()
    tls["sslrootcert"] = ca.name
try:
    connection = psycopg2.connect(
        host=settings["host"],
        port=settings["port"],
        user=settings["user"],
        password=settings["password"],
        dbname=settings["database"],
        connect_timeout=10,
        **tls,
    )
except psycopg2.OperationalError as error:
    text = str(error).strip().splitlines()
    detail = text[-1] if text else "no detail"
    kind = "refused" if "password authentication failed" in str(error) or "no pg_hba.conf entry" in str(error) else "unreachable"
    if "does not exist" in str(error):
        kind = "missing"
    print(json.dumps({"problem": kind, "detail": detail}))
    sys.exit(0)
connection.autocommit = True
cursor = connection.cursor()
cursor.execute("SELECT datcollate, datctype FROM pg_database WHERE datname = current_database()")
collate, ctype = cursor.fetchone()
cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
names = {row[0] for row in cursor.fetchall()}
tables = len(names)
# synapse_port_db's own bookkeeping: an interrupted port left it behind, and resumes from it.
port_started = "port_from_sqlite3_to_postgres" in names
cursor.execute("SELECT has_schema_privilege('public', 'CREATE'), rolsuper FROM pg_roles WHERE rolname = current_user")
can_create, superuser = cursor.fetchone()
fixed = False
if settings.get("fix_locale") and tables == 0 and (collate, ctype) != ("C", "C") and superuser:
    cursor.execute(
        "UPDATE pg_database SET datcollate = 'C', datctype = 'C' WHERE datname = current_database()"
    )
    collate, ctype, fixed = "C", "C", True
pending = 0
if settings.get("sqlite"):
    import sqlite3

    try:
        sqlite = sqlite3.connect("file:%s?mode=ro" % settings["sqlite"], uri=True)
        pending = sqlite.execute("SELECT count(*) FROM background_updates").fetchone()[0]
    except sqlite3.Error:
        pending = 0
print(json.dumps({
    "pending_background_updates": pending,
    "collate": collate,
    "ctype": ctype,
    "tables": tables,
    "port_started": port_started,
    "can_create": bool(can_create),
    "superuser": bool(superuser),
    "fixed": fixed,
}))
