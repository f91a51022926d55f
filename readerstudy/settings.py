"""Django settings, read from the environment.

Every setting that differs between the demo, CI and production comes from an environment
variable (or a ``.env`` file at the repository root). The defaults are the embedded demo: SQLite
under ``var/``, a Celery broker on the local file system, media under ``var/media``.
"""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The embedded demo (`./run demo`) runs with DEBUG off (no debug pages) but on plain
# http://127.0.0.1: no HTTPS redirect, no HSTS, cookies without the Secure flag, and static files
# served by WhiteNoise straight from the source folders (no collectstatic). Never on a server.
DEMO = env.bool("READERSTUDY_DEMO", default=False)
_PLAIN_HTTP = DEBUG or DEMO
# The fallback key is only acceptable for the embedded demo; production must set SECRET_KEY.
SECRET_KEY = env.str("SECRET_KEY", default="insecure-demo-key-change-me-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files, no CDN
    "csp",
    "readerstudy.core",
    "readerstudy.accounts",
    "readerstudy.cohorts",
    "readerstudy.studies",
    "readerstudy.console",
    "readerstudy.imaging",
    "readerstudy.aimodels",
    "readerstudy.results",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "readerstudy.imaging.middleware.DicomwebCorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "readerstudy.urls"
WSGI_APPLICATION = "readerstudy.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'readerstudy.sqlite3'}")
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs a web server, workers and the reads simulation on one SQLite file. Wait for
    # locks rather than fail; take the write lock when a transaction starts (a deferred
    # transaction that later needs to write gets "database is locked" at once, without waiting,
    # when another connection writes); WAL, so that readers and the writer do not block each other.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
# One-time set-password links that the console hands to new readers stay valid this long.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_SETUP_LINK_SECONDS", default=3 * 24 * 3600)
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# Static files (Cornerstone and the app's own JS/CSS) are served by WhiteNoise, also under
# gunicorn in production, with hashed names so browsers can cache them forever.
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))

# Media (DICOM instances, masks, uploads). Any Django storage backend can be named, e.g.
# STORAGE_BACKEND=storages.backends.s3.S3Storage with STORAGE_OPTIONS='{"bucket_name": ...}'
# once django-storages[s3] is installed.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {
        "BACKEND": env.str(
            "STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"
        ),
        "OPTIONS": env.json("STORAGE_OPTIONS", default={}),
    },
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            default="django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEMO
            else "whitenoise.storage.CompressedManifestStaticFilesStorage",
        ),
    },
}
# The demo has no collected static folder: WhiteNoise finds files where they are.
WHITENOISE_USE_FINDERS = DEMO or DEBUG
# Uploaded cohort archives above this size are refused before they are unpacked.
COHORT_UPLOAD_MAX_BYTES = env.int("COHORT_UPLOAD_MAX_BYTES", default=2 * 1024**3)
# ... and so are archives that would unpack to more than this,
COHORT_UPLOAD_MAX_UNPACKED_BYTES = env.int("COHORT_UPLOAD_MAX_UNPACKED_BYTES", default=8 * 1024**3)
# ... or to more than this many times their own size (a zip bomb). A synthetic 30-patient cohort
# zipped with deflate unpacks to 1.8 times its size (README, "Importing a cohort"); a single
# entry may compress far better (a mask 42 times), so the limit is on the whole archive.
COHORT_UPLOAD_MAX_COMPRESSION_RATIO = env.float("COHORT_UPLOAD_MAX_COMPRESSION_RATIO", default=10.0)
# Upload jobs unpack into <this folder>/import-<job id>/; whoever ends or abandons a job removes
# its folder, and the sweep removes folders left by jobs that ended.
COHORT_IMPORT_WORK_DIR = Path(
    env.str("COHORT_IMPORT_WORK_DIR", default=str(VAR_DIR / "import-work"))
)
# A running job whose heartbeat (written with every bit of progress) is older than this is taken
# to have lost its worker: the sweep resumes it, or fails it after COHORT_IMPORT_MAX_ATTEMPTS.
COHORT_IMPORT_STALE_AFTER_SECONDS = env.int("COHORT_IMPORT_STALE_AFTER_SECONDS", default=300)
COHORT_IMPORT_SWEEP_INTERVAL_SECONDS = env.int("COHORT_IMPORT_SWEEP_INTERVAL_SECONDS", default=60)
COHORT_IMPORT_MAX_ATTEMPTS = env.int("COHORT_IMPORT_MAX_ATTEMPTS", default=3)
# A transient database error retries after this many seconds, doubled on each further attempt.
COHORT_IMPORT_RETRY_DELAY_SECONDS = env.int("COHORT_IMPORT_RETRY_DELAY_SECONDS", default=10)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2

# Celery. The default broker needs no server: kombu's file-system transport under var/.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
_broker_folder = Path(env.str("CELERY_BROKER_FOLDER", default=str(VAR_DIR / "broker")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_broker_folder / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_folder / "queue"),
        "data_folder_out": str(_broker_folder / "queue"),
        "processed_folder": str(_broker_folder / "processed"),
        # Exchange bindings (one file per queue); kombu's default is ./control in the cwd.
        "control_folder": str(_broker_folder / "control"),
        "store_processed": False,
    }
# Redis hands an unacknowledged task to another worker once this many seconds have passed since
# it was delivered. Longer than any import (a redelivery of a running job is a no-op anyway) and
# than any retry countdown; a job whose worker died is resumed sooner, by the heartbeat sweep.
BROKER_VISIBILITY_TIMEOUT_SECONDS = env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=1800)
# A key prefix lets several deployments share one Redis. A parallel test run (pytest-xdist, which
# names each of its processes in PYTEST_XDIST_WORKER) gets one per process, so the Celery worker
# of each test process, bound to that process's test database, takes only that process's tasks.
_test_process = env.str("PYTEST_XDIST_WORKER", default="")
BROKER_KEY_PREFIX = env.str(
    "CELERY_BROKER_KEY_PREFIX", default=f"{_test_process}:" if _test_process else ""
)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT_SECONDS}
    if BROKER_KEY_PREFIX:
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = BROKER_KEY_PREFIX
# Job state lives in the database (ImportJob etc.), where coordinators see it: no result backend.
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged when it has finished, not when it starts, and a task whose worker
# process died is handed back to the broker (tests/core/test_worker.py checks that the tasks and
# the running workers really have these; tests/cohorts/test_import_jobs_worker.py kills one).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# Health pings have their own queue, consumed by a worker of their own, so that a long import
# never keeps a health check waiting.
HEALTH_QUEUE = "health"
CELERY_TASK_ROUTES = {
    "readerstudy.cohorts.tasks.ping": {"queue": HEALTH_QUEUE},
    "readerstudy.cohorts.tasks.*": {"queue": "imports"},
    "inference.*": {"queue": "inference"},
    # Training, prediction and attribution tasks: the inference queue, which GPU workers on other
    # machines may consume (docker/compose.yaml, "worker-inference").
    "readerstudy.aimodels.tasks.*": {"queue": "inference"},
}
# Model versions (inference bundles) live in this folder, shared by web and inference workers
# (a local or network file system: PyTorch and scikit-learn read the bundles as files).
MODELS_ROOT = Path(env.str("MODELS_ROOT", default=str(MEDIA_ROOT / "models")))
# Patients per chunk of a prediction run: progress, cancellation and ETA move per chunk.
MODEL_PREDICT_CHUNK_PATIENTS = env.int("MODEL_PREDICT_CHUNK_PATIENTS", default=4)
MODEL_RUN_MAX_ATTEMPTS = env.int("MODEL_RUN_MAX_ATTEMPTS", default=3)
MODEL_RUN_RETRY_DELAY_SECONDS = env.int("MODEL_RUN_RETRY_DELAY_SECONDS", default=10)
# A running model run without a heartbeat for this long lost its worker and may be taken over.
MODEL_RUN_STALE_AFTER_SECONDS = env.int("MODEL_RUN_STALE_AFTER_SECONDS", default=600)
# torch CPU threads of a training/prediction task (0: torch's default).
MODEL_TORCH_THREADS = env.int("MODEL_TORCH_THREADS", default=1)
# Half of a study's results is computed in a second process, beside the other half
# (readerstudy/results/report_process.py); off on a one-core machine.
RESULTS_REPORT_PROCESS = env.bool("RESULTS_REPORT_PROCESS", default=(os.cpu_count() or 1) > 1)
# Who supplies the model output of an AI-aided reading item (studies.apis._ai_panel_for).
READING_AI_PANEL = "readerstudy.aimodels.selectors.prediction_for_reader_item"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

REST_FRAMEWORK = {
    # Deny by default: every API view names who may use it.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The browser: session cookie + CSRF. Scripts and DICOMweb viewers: "Authorization: Token ...".
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# Origins of DICOMweb viewers served elsewhere (e.g. OHIF at https://ohif.example.org) that may
# call /api/v1/dicomweb/ with a token; empty: same origin only.
DICOMWEB_CORS_ORIGINS = env.list("DICOMWEB_CORS_ORIGINS", default=[])

SPECTACULAR_SETTINGS = {
    "TITLE": "Reader study API",
    "DESCRIPTION": "The reader workstation's API. In the browser: your session (and its CSRF "
    "token for writes). Scripts: `Authorization: Token <key>`, a key from "
    "[/accounts/token/](/accounts/token/) or `manage.py api_token USERNAME`.",
    "VERSION": "0.1.0",
    # The schema describes every endpoint: for logged-in users only, like the API itself.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # The docs page's Swagger UI comes from drf-spectacular-sidecar's static files.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# Production hardening: on unless DEBUG. `manage.py check --deploy` is clean with DEBUG=False,
# a real SECRET_KEY and HTTPS in front.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not _PLAIN_HTTP)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # container/load-balancer health checks speak plain HTTP
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not _PLAIN_HTTP)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not _PLAIN_HTTP)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if _PLAIN_HTTP else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not _PLAIN_HTTP)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not _PLAIN_HTTP)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Idle timeout: a session ends this long after its last request (each request renews it).
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
# Content-Security-Policy (django-csp): scripts and styles only from our own static files, no
# inline script or style anywhere; images may be data:/blob: (the viewer draws into canvases),
# workers may be blob: (image decoding in web workers).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Login rate limiting (accounts.services.login_*): after this many failed logins for one
# username within the window, that username's logins are refused until the window has passed.
# Counted per username, not per address: behind a proxy every user has the proxy's address.
# Counted in the cache: set CACHE_URL=redis://... when several server processes run, so that
# they share one count (with the default local-memory cache each process counts on its own).
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=15 * 60)
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
AUTHENTICATION_BACKENDS = ["readerstudy.accounts.backends.RateLimitedModelBackend"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
