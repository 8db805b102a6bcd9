"""The Celery application: one task, and where the broker is.

The broker is kombu's filesystem transport, a directory that the web server
and the worker share inside the container. It keeps this example free of a
second service, but it is a demonstration broker: on a warm shutdown the
worker puts the last task it ran back in the folder ("Restoring 1
unacknowledged message(s)", seen with kombu 5.4 and 5.7), so after a
`docker restart` that task runs again. A real deployment points
CELERY_BROKER_URL at Redis or RabbitMQ (redis://redis:6379/0) and sets no
folder.
"""

import os

from celery import Celery

BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
BROKER_DIR = os.environ.get("CELERY_BROKER_DIR", "/tmp/celery-broker")

app = Celery("tasks")
if BROKER_URL == "filesystem://":
    os.makedirs(BROKER_DIR, exist_ok=True)
    app.conf.broker_transport_options = {
        "data_folder_in": BROKER_DIR,
        "data_folder_out": BROKER_DIR,
        "control_folder": os.path.join(BROKER_DIR, "control"),
    }
app.conf.update(
    broker_url=BROKER_URL,
    broker_connection_retry_on_startup=True,
    # Log to stderr as configured by -l, without replacing the root logger.
    worker_hijack_root_logger=False,
)


@app.task
def add(x, y):
    return x + y
