# The charm's S3 and backup tool, run in Synapse's container through Pebble exec as the
# synapse user, by the image's python3 (boto3 comes with synapse-s3-storage-provider, PyYAML
# with Synapse). The request is one JSON object on stdin: it holds the S3 keys and the
# backup passphrase, so nothing secret is in argv or the environment. The answer is one JSON
# object on stdout: the result, or {"problem": <kind>, "detail": <text>}.
#
# Commands (argv[1]):
#   check    the bucket exists and the keys may use it (HeadBucket)
#   list     the backups under the prefix: [{"id", "size", "last-modified"}]
#   stage    gathers what a backup holds in STAGING (the database as a consistent dump or
#            copy, the signing key, the appservice registrations, local media, and the
#            application secrets given in the request); answers the bytes staged
#   upload   tar | gpg --symmetric | S3 upload of STAGING as the backup's object; the
#            object exists only if every step succeeded; STAGING is removed either way
#   fetch    S3 download | gpg --decrypt | untar into STAGING; answers the manifest and the
#            application secrets (checked against the server this unit runs)
#   restore  puts the fetched database and files in place (Synapse stopped by the charm);
#            STAGING is removed either way
#   delete   deletes a backup's object (answers "not-found" when there is none)
#   discard  removes STAGING
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

STAGING = "/data/.charm-backup"
CONFIG = "/data/homeserver.yaml"
FORMAT = "synapse-k8s-backup/1"
MANIFEST = "manifest.json"
SECRETS = "app-secrets.json"
DATABASE_DIR = "database"
FILES_DIR = "files"
PG_DUMP = "synapse.pgdump"
SQLITE = "homeserver.db"
# Media Synapse cannot fetch again from elsewhere: what its users uploaded.
LOCAL_MEDIA = ("local_content", "local_thumbnails")


class Problem(Exception):
    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def progress(text):
    """A line the charm relays to the action's log."""
    sys.stderr.write(f"progress: {text}\n")
    sys.stderr.flush()


class Meter:
    """Counts bytes moved, saying so every few seconds."""

    def __init__(self, verb):
        self.verb = verb
        self.total = 0
        self.said = time.monotonic()

    def __call__(self, count):
        self.total += count
        if time.monotonic() - self.said >= 5:
            self.said = time.monotonic()
            progress(f"{self.verb} {self.total // (1 << 20)} MiB so far")


def answer(value):
    sys.stdout.write(json.dumps(value))
    sys.stdout.flush()


# --- S3 ---------------------------------------------------------------------------------


def client(settings):
    import boto3
    from botocore.config import Config

    verify = True
    if settings.get("ca_chain"):
        handle, path = tempfile.mkstemp(prefix="charm-s3-ca-", suffix=".pem")
        with os.fdopen(handle, "w") as out:
            out.write("\n".join(pem.strip() for pem in settings["ca_chain"]) + "\n")
        verify = path
    config = Config(
        s3={"addressing_style": settings["addressing_style"]},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
    )
    return boto3.client(
        "s3",
        aws_access_key_id=settings["access_key"],
        aws_secret_access_key=settings["secret_key"],
        region_name=settings.get("region") or None,
        endpoint_url=settings.get("endpoint") or None,
        verify=verify,
        config=config,
    )


def s3_problem(error):
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{code or 'error'} (HTTP {status})" if status else code or str(error)
    return f"{type(error).__name__}: {error}"


def prefix(settings):
    path = settings.get("path", "").strip("/")
    return f"{path}/" if path else ""


def key(settings, backup_id):
    return prefix(settings) + backup_id


def check(request):
    settings = request["s3"]
    try:
        client(settings).head_bucket(Bucket=settings["bucket"])
    except Exception as error:
        raise Problem("bucket", s3_problem(error))
    return {"ok": True}


def list_backups(request):
    settings = request["s3"]
    s3 = client(settings)
    backups = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=settings["bucket"], Prefix=prefix(settings))
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix(settings)) :]
                if name.startswith("backup-") and "/" not in name:
                    backups.append(
                        {
                            "id": name,
                            "size": item["Size"],
                            "last-modified": item["LastModified"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                        }
                    )
    except Exception as error:
        raise Problem("bucket", s3_problem(error))
    return {"backups": backups}


def delete(request):
    settings = request["s3"]
    s3 = client(settings)
    name = key(settings, request["backup_id"])
    try:
        s3.head_object(Bucket=settings["bucket"], Key=name)
    except Exception as error:
        if "404" in s3_problem(error) or "NoSuchKey" in s3_problem(error):
            raise Problem("not-found", request["backup_id"])
        raise Problem("bucket", s3_problem(error))
    try:
        s3.delete_object(Bucket=settings["bucket"], Key=name)
    except Exception as error:
        raise Problem("bucket", s3_problem(error))
    return {"ok": True}


# --- gpg --------------------------------------------------------------------------------


class Gpg:
    """gpg in a throw-away home, the passphrase through a pipe of its own."""

    def __init__(self, passphrase, operation):
        self.home = tempfile.mkdtemp(prefix="charm-gpg-")
        read_end, write_end = os.pipe()
        os.write(write_end, passphrase.encode() + b"\n")
        os.close(write_end)
        argv = ["gpg", "--batch", "--quiet", "--no-tty", "--homedir", self.home]
        argv += ["--pinentry-mode", "loopback", "--no-symkey-cache", "--passphrase-fd", str(read_end)]
        argv += operation
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(read_end,),
            )
        except FileNotFoundError:
            raise Problem("gpg", "gpg is not installed in Synapse's image")
        finally:
            os.close(read_end)
        self.errors = b""
        self.error_reader = threading.Thread(target=self._read_errors, daemon=True)
        self.error_reader.start()

    def _read_errors(self):
        self.errors = self.process.stderr.read()

    def finish(self):
        code = self.process.wait()
        self.error_reader.join()
        subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "all"], capture_output=True)
        shutil.rmtree(self.home, ignore_errors=True)
        lines = [line for line in self.errors.decode("utf-8", "replace").splitlines() if line.strip()]
        return code, (lines[-1] if lines else f"exit code {code}")


class Checked:
    """A stream that, at its end, raises unless the writers that feed it all succeeded: so an
    upload that read it completes only for a whole, correct archive."""

    def __init__(self, stream, finish):
        self.stream = stream
        self.finish = finish
        self.finished = False

    def read(self, size=-1):
        data = self.stream.read(size)
        if not data and not self.finished:
            self.finished = True
            self.finish()
        return data


# --- the data a backup holds --------------------------------------------------------------


def homeserver():
    import yaml

    with open(CONFIG) as config:
        return yaml.safe_load(config)


def fresh_staging():
    shutil.rmtree(STAGING, ignore_errors=True)
    os.makedirs(STAGING, mode=0o700)


def database_kind(config):
    name = config.get("database", {}).get("name", "sqlite3")
    return "postgresql" if name in ("psycopg2", "psycopg") else "sqlite"


def postgres_environment(config):
    args = config["database"]["args"]
    environment = dict(os.environ)
    for variable, arg in (("PGHOST", "host"), ("PGPORT", "port"), ("PGUSER", "user"), ("PGDATABASE", "database")):
        if args.get(arg) is not None:
            environment[variable] = str(args[arg])
    if args.get("dbname") is not None:
        environment["PGDATABASE"] = str(args["dbname"])
    if args.get("password") is not None:
        environment["PGPASSWORD"] = str(args["password"])
    if args.get("sslmode"):
        environment["PGSSLMODE"] = str(args["sslmode"])
    return environment


def run_postgres_tool(argv, config, what):
    try:
        result = subprocess.run(argv, env=postgres_environment(config), capture_output=True)
    except FileNotFoundError:
        raise Problem("database", f"{argv[0]} is not installed in Synapse's image")
    if result.returncode != 0:
        lines = [line for line in result.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        raise Problem("database", f"{what}: {lines[-1] if lines else 'exit code ' + str(result.returncode)}")


def size_of(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for directory, _, names in os.walk(path):
        total += sum(os.path.getsize(os.path.join(directory, name)) for name in names)
    return total


def stage(request):
    config = homeserver()
    fresh_staging()
    kind = database_kind(config)
    os.makedirs(os.path.join(STAGING, DATABASE_DIR))
    os.makedirs(os.path.join(STAGING, FILES_DIR))
    progress(f"copying the {kind} database")
    if kind == "postgresql":
        dump = os.path.join(STAGING, DATABASE_DIR, PG_DUMP)
        # One transaction's snapshot: consistent while Synapse keeps writing.
        argv = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", dump]
        run_postgres_tool(argv, config, "pg_dump failed")
    else:
        import sqlite3

        source = config["database"]["args"]["database"]
        copy = os.path.join(STAGING, DATABASE_DIR, SQLITE)
        # SQLite's online backup: a consistent copy while Synapse keeps writing.
        with sqlite3.connect(source) as live, sqlite3.connect(copy) as target:
            live.backup(target)
    files = []
    for path in [config["signing_key_path"]] + list(config.get("app_service_config_files") or []):
        if os.path.isfile(path):
            shutil.copy2(path, os.path.join(STAGING, FILES_DIR, os.path.basename(path)))
            files.append(path)
    media_root = config.get("media_store_path", "/data/media")
    # Media is archived from where it lives (upload), not copied: it may be most of /data.
    media = [name for name in LOCAL_MEDIA if os.path.isdir(os.path.join(media_root, name))]
    handle = os.open(os.path.join(STAGING, SECRETS), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "w") as out:
        json.dump(request["app_secrets"], out)
    manifest = {
        "format": FORMAT,
        "server_name": config["server_name"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "database": kind,
        "files": files,
        "media_store_path": media_root,
        "media": media,
    }
    with open(os.path.join(STAGING, MANIFEST), "w") as out:
        json.dump(manifest, out)
    total = size_of(STAGING) + sum(size_of(os.path.join(media_root, name)) for name in media)
    return {"bytes": total, "database": kind, "media": media}


def add_live_tree(tar, root, arcname):
    """Adds a directory Synapse keeps writing to: a file removed meanwhile is left out."""
    for directory, subdirectories, names in os.walk(root):
        subdirectories.sort()
        relative = os.path.relpath(directory, root)
        base = arcname if relative == "." else f"{arcname}/{relative}"
        tar.add(directory, arcname=base, recursive=False)
        for name in sorted(names):
            try:
                tar.add(os.path.join(directory, name), arcname=f"{base}/{name}", recursive=False)
            except FileNotFoundError:
                pass


def upload(request):
    from boto3.s3.transfer import TransferConfig

    settings = request["s3"]
    s3 = client(settings)
    with open(os.path.join(STAGING, MANIFEST)) as source:
        manifest = json.load(source)
    gpg = Gpg(request["passphrase"], ["--symmetric", "--cipher-algo", "AES256", "--output", "-"])
    failures = []

    def archive():
        try:
            with tarfile.open(fileobj=gpg.process.stdin, mode="w|") as tar:
                tar.add(os.path.join(STAGING, MANIFEST), arcname=MANIFEST)
                for name in sorted(os.listdir(STAGING)):
                    if name != MANIFEST:
                        tar.add(os.path.join(STAGING, name), arcname=name)
                for name in manifest["media"]:
                    add_live_tree(tar, os.path.join(manifest["media_store_path"], name), f"media/{name}")
            gpg.process.stdin.close()
        except Exception as error:
            failures.append(f"archiving failed: {type(error).__name__}: {error}")
            gpg.process.kill()

    writer = threading.Thread(target=archive, daemon=True)

    def finish():
        writer.join()
        code, error = gpg.finish()
        if failures:
            raise RuntimeError(failures[0])
        if code != 0:
            raise RuntimeError(f"gpg failed: {error}")

    writer.start()
    name = key(settings, request["backup_id"])
    stream = Checked(gpg.process.stdout, finish)
    try:
        transfer = TransferConfig(max_concurrency=1, use_threads=False)
        s3.upload_fileobj(stream, settings["bucket"], name, Config=transfer, Callback=Meter("uploaded"))
        size = s3.head_object(Bucket=settings["bucket"], Key=name)["ContentLength"]
    except Exception as error:
        # Either the archive failed (the stream's end said so) or S3 did.
        reason = str(error) if stream.finished else s3_problem(error)
        gpg.process.kill()
        if not stream.finished:
            stream.finished = True
            try:
                finish()
            except Exception:
                pass
        raise Problem("upload", reason)
    finally:
        shutil.rmtree(STAGING, ignore_errors=True)
    return {"size": size, "key": name}


def safe_members(tar):
    for member in tar:
        name = os.path.normpath(member.name)
        if name.startswith("/") or name == ".." or name.startswith("../") or not (member.isfile() or member.isdir()):
            raise Problem("archive", f"the archive holds an unexpected entry {member.name!r}")
        yield member


def fetch(request):
    settings = request["s3"]
    s3 = client(settings)
    name = key(settings, request["backup_id"])
    try:
        s3.head_object(Bucket=settings["bucket"], Key=name)
    except Exception as error:
        text = s3_problem(error)
        if "404" in text or "NoSuchKey" in text or "NotFound" in text:
            raise Problem("not-found", request["backup_id"])
        raise Problem("bucket", text)
    fresh_staging()
    gpg = Gpg(request["passphrase"], ["--decrypt", "--output", "-"])
    failures = []

    def download():
        try:
            body = s3.get_object(Bucket=settings["bucket"], Key=name)["Body"]
            meter = Meter("downloaded")
            for chunk in body.iter_chunks(1 << 20):
                gpg.process.stdin.write(chunk)
                meter(len(chunk))
            gpg.process.stdin.close()
        except BrokenPipeError:
            pass
        except Exception as error:
            failures.append(s3_problem(error))
            gpg.process.kill()

    reader = threading.Thread(target=download, daemon=True)
    reader.start()
    extracted = None
    try:
        with tarfile.open(fileobj=gpg.process.stdout, mode="r|") as tar:
            for member in safe_members(tar):
                tar.extract(member, STAGING, set_attrs=False)
        extracted = True
    except Problem as problem:
        extracted = problem
    except Exception as error:
        extracted = Problem("archive", f"{type(error).__name__}: {error}")
    # tar stops at its end marker: read gpg's trailing padding too, or gpg fails on a closed pipe.
    while gpg.process.stdout.read(1 << 16):
        pass
    gpg.process.stdout.close()
    reader.join()
    code, error = gpg.finish()
    try:
        if failures:
            raise Problem("download", failures[0])
        if code != 0:
            lowered = error.lower()
            if "bad session key" in lowered or "decryption failed" in lowered or "no valid openpgp" in lowered:
                raise Problem("passphrase", error)
            raise Problem("archive", f"gpg failed: {error}")
        if extracted is not True:
            raise extracted
        with open(os.path.join(STAGING, MANIFEST)) as source:
            manifest = json.load(source)
        if manifest.get("format") != FORMAT:
            raise Problem("archive", f"not a synapse-k8s backup (format {manifest.get('format')!r})")
        with open(os.path.join(STAGING, SECRETS)) as source:
            secrets = json.load(source)
        config = homeserver()
        if manifest["server_name"] != config["server_name"]:
            raise Problem(
                "server-name",
                f"the backup is of {manifest['server_name']}, this application serves {config['server_name']}",
            )
        if manifest["database"] != database_kind(config):
            raise Problem(
                "database",
                f"the backup holds a {manifest['database']} database, this unit uses {database_kind(config)}",
            )
    except Exception:
        shutil.rmtree(STAGING, ignore_errors=True)
        raise
    return {"manifest": manifest, "app_secrets": secrets, "bytes": size_of(STAGING)}


def replace_dir(staged, live):
    old = live + ".charm-restore-old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(live):
        os.rename(live, old)
    os.makedirs(os.path.dirname(live), exist_ok=True)
    os.rename(staged, live)
    shutil.rmtree(old, ignore_errors=True)


def restore(request):
    try:
        with open(os.path.join(STAGING, MANIFEST)) as source:
            manifest = json.load(source)
    except FileNotFoundError:
        raise Problem("archive", "nothing is fetched: run fetch first")
    config = homeserver()
    try:
        progress(f"restoring the {manifest['database']} database")
        if manifest["database"] == "postgresql":
            dump = os.path.join(STAGING, DATABASE_DIR, PG_DUMP)
            argv = ["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges"]
            argv += ["--single-transaction", "--exit-on-error", "--dbname", postgres_environment(config)["PGDATABASE"], dump]
            run_postgres_tool(argv, config, "pg_restore failed (the database is unchanged)")
        else:
            live = config["database"]["args"]["database"]
            staged = os.path.join(STAGING, DATABASE_DIR, SQLITE)
            for suffix in ("-wal", "-shm", "-journal"):
                if os.path.exists(live + suffix):
                    os.remove(live + suffix)
            os.replace(staged, live)
        for path in manifest["files"]:
            staged = os.path.join(STAGING, FILES_DIR, os.path.basename(path))
            if os.path.isfile(staged):
                os.replace(staged, path)
        media_root = config.get("media_store_path", "/data/media")
        progress("restoring the signing key, the appservice registrations and local media")
        for name in manifest["media"]:
            replace_dir(os.path.join(STAGING, "media", name), os.path.join(media_root, name))
    finally:
        shutil.rmtree(STAGING, ignore_errors=True)
    return {"ok": True}


def discard(request):
    shutil.rmtree(STAGING, ignore_errors=True)
    return {"ok": True}


COMMANDS = {
    "check": check,
    "list": list_backups,
    "delete": delete,
    "stage": stage,
    "upload": upload,
    "fetch": fetch,
    "restore": restore,
    "discard": discard,
}

if __name__ == "__main__":
    os.umask(0o077)
    try:
        answer(COMMANDS[sys.argv[1]](json.load(sys.stdin)))
    except Problem as problem:
        answer({"problem": problem.kind, "detail": problem.detail})
    except Exception as error:
        answer({"problem": "internal", "detail": f"{type(error).__name__}: {error}"})
