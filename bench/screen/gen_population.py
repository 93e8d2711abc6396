#!/usr/bin/env python3
"""Generate a synthetic population for `miaopi screen` over
rules/sz-elderly-outreach/ruleset.xml.

usage: gen_population.py N OUT.jsonl [--seed S] [--date YYYY-MM-DD]
                         [--expected EXPECTED.jsonl]

Each line is {"id": "p0000001", "context": {"person_id": ...},
"sources": {"hukou": {...}, "minzheng": {...}}}. The people are made up:
ID numbers are valid GB 11643 numbers with random Shenzhen region codes
and birth dates; names are placeholders. With --expected, the generator
also writes what the ruleset should decide for each person (qualifies,
near-miss RULE, or other), computed independently in Python, so a test
can compare miaopi's output with it.
"""
import argparse
import datetime
import json
import random

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"
REGIONS = ["440303", "440304", "440305", "440306", "440307", "440308"]


def id_number(rng, birth):
    body = "%s%s%03d" % (rng.choice(REGIONS), birth.strftime("%Y%m%d"),
                         rng.randrange(1000))
    s = sum(int(c) * w for c, w in zip(body, WEIGHTS))
    return body + CHECK[s % 11]


def age_on(birth, on):
    # Completed years; a 29 Feb birthday falls on 1 Mar in common years.
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def add_years(d, n):
    try:
        return d.replace(year=d.year + n)
    except ValueError:  # 29 Feb -> 28 Feb
        return d.replace(year=d.year + n, day=28)


def person(rng, on):
    # Ages 60..99, a quarter of them 80 or over; most registered long ago.
    birth = on - datetime.timedelta(days=rng.randrange(60 * 365, 100 * 365))
    since = on - datetime.timedelta(days=rng.choice(
        [rng.randrange(400, 20000), rng.randrange(400, 20000),
         rng.randrange(400, 20000), rng.randrange(1, 365)]))
    hukou = {
        "id_number": id_number(rng, birth),
        "name": "居民%d" % rng.randrange(100000),
        "registered_city": "深圳市" if rng.random() < 0.93 else "东莞市",
        "registered_since": since.isoformat(),
        "status": "正常" if rng.random() < 0.97 else "注销",
    }
    minzheng = {
        "receiving_allowance": rng.random() < 0.15,
        "in_care_home": rng.random() < 0.03,
    }
    return birth, hukou, minzheng


def expected(birth, hukou, minzheng, on):
    fails = []
    if not (hukou["registered_city"] == "深圳市" and hukou["status"] == "正常"):
        fails.append("registered-shenzhen")
    since = datetime.date.fromisoformat(hukou["registered_since"])
    if not add_years(since, 1) <= on:
        fails.append("registered-one-year")
    if not age_on(birth, on) >= 80:
        fails.append("age-80")
    if minzheng["receiving_allowance"]:
        fails.append("not-yet-receiving")
    if minzheng["in_care_home"]:
        fails.append("not-in-public-care")
    if not fails:
        return {"result": "qualifies"}
    if len(fails) == 1:
        return {"result": "near-miss", "rule": fails[0]}
    return {"result": "other"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--date", default="2024-05-01")
    ap.add_argument("--expected")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    on = datetime.date.fromisoformat(a.date)
    exp = open(a.expected, "w", encoding="utf-8") if a.expected else None
    with open(a.out, "w", encoding="utf-8") as f:
        for i in range(a.n):
            birth, hukou, minzheng = person(rng, on)
            pid = "p%07d" % i
            f.write(json.dumps({"id": pid,
                                "context": {"person_id": hukou["id_number"]},
                                "sources": {"hukou": hukou,
                                            "minzheng": minzheng}},
                               ensure_ascii=False, separators=(",", ":")))
            f.write("\n")
            if exp:
                e = expected(birth, hukou, minzheng, on)
                e["id"] = pid
                exp.write(json.dumps(e, ensure_ascii=False) + "\n")
    if exp:
        exp.close()


if __name__ == "__main__":
    main()
