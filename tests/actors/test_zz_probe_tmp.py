import os, subprocess, sys, time, psycopg
from tests.conftest import TEST_DATABASE_URL
def test_x(db, tmp_path):
    log = (tmp_path / "w.log").open("w")
    p = subprocess.Popen([sys.executable, "-m", "actors.worker", "--threads", "4"], cwd="/work/main", env=dict(os.environ), stderr=log, stdout=log)
    t0 = time.monotonic()
    try:
        for _ in range(30):
            rows = db.execute("SELECT application_name, left(query, 60) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'recado%'").fetchall()
            print(round(time.monotonic()-t0,2), rows)
            time.sleep(0.2)
    finally:
        p.kill(); p.wait()
    print(open(tmp_path / "w.log").read())
