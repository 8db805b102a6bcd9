"""Celery tasks for tests/celery.rs.

The test copies this file into its temporary directory and runs the worker
there (`celery -A tasks worker`), so nothing is written into the checkout.
Broker and result backend are the test's own redis, from CELERY_BROKER_URL.
"""

import os
import time
from pathlib import Path

from celery import Celery

url = os.environ["CELERY_BROKER_URL"]
app = Celery("tasks", broker=url, backend=url)
# Celery >= 5.3 warns at start-up unless this is set explicitly.
app.conf.broker_connection_retry_on_startup = True


@app.task
def nap(name, directory, seconds):
    """Writes DIRECTORY/started-NAME, sleeps SECONDS, then writes DIRECTORY/done-NAME.

    A task whose pool process is killed during the sleep (by a SIGTERM meant
    for the worker's main process) never writes its done file.
    """
    directory = Path(directory)
    (directory / f"started-{name}").write_text(f"{os.getpid()}\n")
    print(f"nap {name} started in pid {os.getpid()}")
    time.sleep(seconds)
    (directory / f"done-{name}").write_text(f"{os.getpid()}\n")
    print(f"nap {name} done")
    return name
