"""Write the bundled demo sample (soc/demo_data/): a day of invented city logs.

The sample is made up, deterministic (fixed seed) and small: an SSH brute force that ends in a
login on a finance server, web attacks on the public-service portal, a port scan at the
firewall, DNS lookups of tunnel-like names, and ordinary traffic around them. Run it again
only when the sample should change: `python scripts/make_demo_data.py`.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "soc" / "demo_data"
DAY = datetime(2026, 11, 20, 7, 30, 0)  # local time, Asia/Ho_Chi_Minh
rng = random.Random(20261120)

ATTACKER = "185.220.101.47"
SCANNER = "45.155.205.99"
STAFF = [f"10.20.{d}.{h}" for d in (1, 2, 3) for h in (11, 23, 35, 47)]
USERS = ["root", "admin", "oracle", "ubuntu", "test", "postgres", "ftpuser", "guest", "deploy"]


def syslog_time(moment: datetime) -> str:
    return f"{moment:%b} {moment.day:2d} {moment:%H:%M:%S}"


def auth_log() -> list[str]:
    lines: list[tuple[datetime, str]] = []
    host = "tc-app01"
    t = DAY
    for i in range(40):  # ordinary staff logins over the day
        t = DAY + timedelta(minutes=17 * i + rng.randint(0, 9))
        ip = rng.choice(STAFF)
        user = rng.choice(["lan.nguyen", "minh.tran", "hoa.le"])
        port = rng.randint(40000, 65000)
        pid = 20000 + i
        lines.append(
            (
                t,
                f"sshd[{pid}]: Accepted publickey for {user} from {ip} port {port} ssh2: "
                "ED25519 SHA256:Qm9ndXNLZXlGb3JEZW1vT25seQ",
            )
        )
        lines.append(
            (
                t,
                f"sshd[{pid}]: pam_unix(sshd:session): session opened for user {user}(uid=1001) by (uid=0)",
            )
        )
    start = DAY.replace(hour=10, minute=4, second=30)
    for i in range(24):  # the brute force, straddling 10:05
        t = start + timedelta(seconds=i * 5)
        user = USERS[i % len(USERS)]
        pid = 31000 + i
        port = 51000 + i * 7
        if user in ("oracle", "test", "ftpuser", "guest"):
            lines.append((t, f"sshd[{pid}]: Invalid user {user} from {ATTACKER} port {port}"))
            lines.append(
                (
                    t,
                    f"sshd[{pid}]: Failed password for invalid user {user} from {ATTACKER} port {port} ssh2",
                )
            )
        else:
            lines.append(
                (t, f"sshd[{pid}]: Failed password for {user} from {ATTACKER} port {port} ssh2")
            )
    t = start + timedelta(seconds=125)
    lines.append((t, f"sshd[31100]: Accepted password for deploy from {ATTACKER} port 52001 ssh2"))
    lines.append(
        (
            t,
            "sshd[31100]: pam_unix(sshd:session): session opened for user deploy(uid=1002) by (uid=0)",
        )
    )
    t += timedelta(minutes=2)
    lines.append(
        (t, "sudo:   deploy : TTY=pts/1 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/su -")
    )
    t += timedelta(seconds=40)
    lines.append(
        (
            t,
            "useradd[31230]: new user: name=sysupdate, UID=0, GID=0, home=/root, shell=/bin/bash, from=/dev/pts/1",
        )
    )
    lines.append((t + timedelta(seconds=3), "usermod[31240]: add 'sysupdate' to group 'sudo'"))
    for i in range(8):
        t = DAY + timedelta(hours=i * 2, minutes=1)
        lines.append(
            (
                t,
                f"CRON[{40000 + i}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
            )
        )
    lines.sort(key=lambda item: item[0])
    return [f"{syslog_time(m)} {host} {msg}" for m, msg in lines]


def access_log() -> list[str]:
    paths = [
        "/",
        "/dich-vu-cong/ho-so",
        "/tra-cuu?ma=HS2026-1182",
        "/tin-tuc/thong-bao",
        "/static/app.js",
        "/static/logo.png",
        "/dang-nhap",
        "/lien-he",
    ]
    agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    ]
    entries: list[tuple[datetime, str, str, str, int, int, str]] = []
    for _ in range(300):
        t = DAY + timedelta(seconds=rng.randint(0, 12 * 3600))
        ip = f"113.{rng.randint(160, 190)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        path = rng.choice(paths)
        status = 200 if path != "/dang-nhap" or rng.random() > 0.1 else 302
        entries.append((t, ip, "GET", path, status, rng.randint(300, 40000), rng.choice(agents)))
    attack_start = DAY.replace(hour=14, minute=12)
    attacks = [
        ("GET", "/tra-cuu?ma=HS2026%27%20OR%201%3D1--", 500),
        ("GET", "/tra-cuu?ma=1%20UNION%20SELECT%20username,password%20FROM%20users--", 500),
        ("GET", "/tim-kiem?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E", 200),
        ("GET", "/tai-lieu?file=../../../../etc/passwd", 400),
        ("GET", "/cgi-bin/ping?host=127.0.0.1;cat%20/etc/shadow", 404),
        ("POST", "/uploads/2026/11/avatar.php?cmd=whoami", 200),
    ]
    for n, (method, path, status) in enumerate(attacks):
        t = attack_start + timedelta(seconds=n * 20)
        entries.append(
            (t, SCANNER, method, path, status, 512, "sqlmap/1.8.11#stable (https://sqlmap.org)")
        )
    for n in range(30):
        t = attack_start + timedelta(minutes=5, seconds=n)
        entries.append(
            (
                t,
                SCANNER,
                "GET",
                f"/{rng.choice(['admin', 'wp-login.php', '.env', 'phpmyadmin', 'backup.zip', '.git/config'])}",
                404,
                162,
                "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000123)",
            )
        )
    entries.sort(key=lambda e: e[0])
    out = []
    for t, ip, method, path, status, size, agent in entries:
        stamp = t.strftime("%d/%b/%Y:%H:%M:%S +0700")
        out.append(f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {size} "-" "{agent}"')
    return out


def firewall_log() -> list[str]:
    out: list[tuple[datetime, str]] = []
    start = DAY.replace(hour=13, minute=40)
    for i, port in enumerate(
        [
            21,
            22,
            23,
            25,
            53,
            80,
            110,
            135,
            139,
            143,
            443,
            445,
            993,
            1433,
            1521,
            3306,
            3389,
            5432,
            5900,
            6379,
            8080,
            8443,
            9200,
            27017,
        ]
    ):
        t = start + timedelta(seconds=i * 2)
        out.append(
            (
                t,
                f'devname="FGT-HCM-CORE" devid="FG200FT923900001" logid="0000000013" type="traffic" '
                f'subtype="forward" level="notice" vd="root" srcip={SCANNER} srcport={40100 + i} '
                f'srcintf="wan1" dstip=103.9.86.10 dstport={port} dstintf="dmz" policyid=0 '
                f'proto=6 action="deny" service="tcp/{port}" sentbyte=0 rcvdbyte=0',
            )
        )
    for _ in range(40):
        t = DAY + timedelta(minutes=rng.randint(0, 600))
        src = rng.choice(STAFF)
        out.append(
            (
                t,
                f'devname="FGT-HCM-CORE" devid="FG200FT923900001" logid="0000000013" type="traffic" '
                f'subtype="forward" level="notice" vd="root" srcip={src} srcport={rng.randint(40000, 65000)} '
                f'srcintf="lan" dstip=142.250.66.{rng.randint(1, 250)} dstport=443 dstintf="wan1" policyid=12 '
                f'proto=6 action="accept" service="HTTPS" sentbyte={rng.randint(500, 9000)} rcvdbyte={rng.randint(900, 90000)}',
            )
        )
    out.sort(key=lambda e: e[0])
    return [f'date={t:%Y-%m-%d} time={t:%H:%M:%S} tz="+0700" {msg}' for t, msg in out]


def dns_log() -> list[str]:
    out: list[tuple[datetime, str]] = []
    names = [
        "hochiminhcity.gov.vn",
        "dichvucong.gov.vn",
        "mail.tphcm.gov.vn",
        "update.microsoft.com",
        "vnexpress.net",
    ]
    for _ in range(60):
        t = DAY + timedelta(minutes=rng.randint(0, 600))
        ip = rng.choice(STAFF)
        out.append((t, ip, rng.choice(names), "A"))
    start = DAY.replace(hour=15, minute=20)
    for i in range(25):
        chunk = "".join(rng.choice("abcdef0123456789") for _ in range(52))
        out.append(
            (
                start + timedelta(seconds=i * 3),
                "10.20.2.35",
                f"{chunk}.{i:04d}.cdn-sync-update.xyz",
                "TXT",
            )
        )
    out.sort(key=lambda e: e[0])
    lines = []
    for t, ip, name, qtype in out:
        stamp = t.strftime("%d-%b-%Y %H:%M:%S.000")
        port = rng.randint(1024, 65000)
        lines.append(
            f"{stamp} queries: info: client @0x7f3a5c001a30 {ip}#{port} ({name}): query: {name} IN {qtype} + (10.20.0.53)"
        )
    return lines


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "tc-app01-auth.log").write_text("\n".join(auth_log()) + "\n", encoding="utf-8")
    (OUT / "dvc-portal-access.log").write_text("\n".join(access_log()) + "\n", encoding="utf-8")
    (OUT / "fortigate.log").write_text("\n".join(firewall_log()) + "\n", encoding="utf-8")
    (OUT / "bind-queries.log").write_text("\n".join(dns_log()) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
