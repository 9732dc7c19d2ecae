"""
A second client of the lab, independent of the Node.js driver: the DataStax
Python driver (the one cqlsh runs on, from the cqlsh virtualenv) connects to
the contact points it is given, writes ROWS statuses for USER through them,
reads USER's statuses back, and prints what it did as one JSON line:
{"protocol": …, "hosts": […], "written": […], "read": […]}. A failure is left
to the driver and ends in its traceback, as an application would see it.

usage: python python-client.py --contact-points A,B,C [--port 9042]
           [--protocol 4|5|default] --user NAME [--rows N]
The login comes from CASSANDRA_USERNAME and CASSANDRA_PASSWORD
(zdm-lab env prints them).
"""
import argparse
import json
import os
from datetime import datetime, timedelta, timezone

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

DATACENTER = "datacenter1"


def main() -> None:
    parser = argparse.ArgumentParser(description="write and read statuses with the DataStax Python driver")
    parser.add_argument("--contact-points", required=True, help="comma-separated addresses")
    parser.add_argument("--port", type=int, default=9042)
    parser.add_argument("--protocol", default="default", help="4, 5, or default (the driver negotiates)")
    parser.add_argument("--user", required=True)
    parser.add_argument("--rows", type=int, default=10)
    args = parser.parse_args()

    options = {}
    if args.protocol != "default":
        options["protocol_version"] = int(args.protocol)
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=DATACENTER)),
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
    )
    cluster = Cluster(
        args.contact_points.split(","),
        port=args.port,
        auth_provider=PlainTextAuthProvider(os.environ["CASSANDRA_USERNAME"], os.environ["CASSANDRA_PASSWORD"]),
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=5,
        **options,
    )
    try:
        session = cluster.connect()
        insert = session.prepare("INSERT INTO zdmapp.user_status (user, when, status) VALUES (?, ?, ?)")
        # A plain insert whose every value the client chose: safe to send twice.
        insert.is_idempotent = True
        start = datetime.now(timezone.utc).replace(microsecond=0)
        written = []
        for i in range(args.rows):
            status = f"py-{i + 1}"
            session.execute(insert, (args.user, start + timedelta(milliseconds=i), status))
            written.append(status)
        select = session.prepare("SELECT status FROM zdmapp.user_status WHERE user = ?")
        read = [row.status for row in session.execute(select, (args.user,))]
        print(json.dumps({
            "protocol": cluster.protocol_version,
            "hosts": sorted(str(h.endpoint) for h in cluster.metadata.all_hosts()),
            "written": written,
            "read": read,
        }))
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
