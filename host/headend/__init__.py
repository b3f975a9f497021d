"""The head-end beyond one machine: harvest runs split into shards that Celery workers read into a shared
database, periodic runs (Celery beat), and the notifications meters push.

    shards.py        the inventory split by site (NAT address), so one site's ports stay in one shard
    runs.py          submitting a run, what it has done, the dead letters
    tasks.py         the Celery application and its tasks
    notification.py  a pushed DataNotification's layout and its checks
    listen.py        the server meters push their notifications to
"""
