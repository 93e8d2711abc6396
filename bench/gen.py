#!/usr/bin/env python3
"""Deterministic workload generators for the miaopi benchmarks.

    gen.py cases N OUT.jsonl [--seed S]   realistic sz-talent cases
    gen.py ruleset N OUT.xml              the sz-talent ruleset grown to N rules
    gen.py table ROWS OUT.xml             a ruleset with a ROWS-row lookup table

Everything is derived from a fixed seed (random.Random, whose sequence is
stable across Python 3 versions for the calls used here), so two runs give
byte-identical files. The case mix targets about 60% APPROVE, 25% REJECT
and 15% ESCALATE under rules/sz-talent/ruleset.xml; the benchmark checks
the mix it actually gets by evaluating.
"""
import datetime as dt
import json
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RULESET = os.path.join(HERE, "..", "rules", "sz-talent", "ruleset.xml")

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉俊峰建飞斌宇浩凯健帆晨阳琳欣悦思雨涵轩博文子梓诗梦婷雪瑶佳怡嘉豪睿哲"
MINORITY = ["阿卜杜·热合曼", "买买提·艾力", "古丽娜尔·吐尔逊", "扎西·多吉",
            "努尔兰·别克", "迪丽热巴·迪力木拉提"]
# Province-valid region codes (GB/T 2260 prefixes 11..65).
REGIONS = ["440305", "440304", "440306", "440307", "110101", "310104",
           "420102", "430104", "510104", "610113", "360102", "450102",
           "440103", "441302", "445102", "350203", "320106", "330106"]
CITIES = ["湛江市", "广州市", "武汉市", "长沙市", "成都市", "西安市",
          "南昌市", "南宁市", "汕头市", "厦门市", "南京市", "杭州市"]
SCHOOLS = ["华南理工大学", "中山大学", "深圳大学", "武汉大学", "湖南大学",
           "四川大学", "西安交通大学", "南昌大学", "广西大学", "厦门大学"]
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ID_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
AGE_LIMIT = {"本科": 35, "硕士": 40, "博士": 45}
# Typical age at graduation for each degree.
GRAD_AGE = {"本科": 22, "硕士": 25, "博士": 29}


def id_number(rng, birth, region=None):
    body = (region or rng.choice(REGIONS)) + birth.strftime("%Y%m%d") + \
        "%03d" % rng.randrange(1000)
    s = sum(int(c) * w for c, w in zip(body, ID_W))
    return body + "10X98765432"[s % 11]


def uscc(rng):
    body = "91" + "440300" + "".join(rng.choice(USCC_CHARS) for _ in range(9))
    s = sum(USCC_CHARS.index(c) * w for c, w in zip(body, USCC_W))
    c = 31 - s % 31
    return body + USCC_CHARS[0 if c == 31 else c]


def name(rng):
    if rng.random() < 0.03:
        return rng.choice(MINORITY)
    n = rng.choice(SURNAMES) + rng.choice(GIVEN)
    if rng.random() < 0.6:
        n += rng.choice(GIVEN)
    return n


def add_years(d, y):
    try:
        return d.replace(year=d.year + y)
    except ValueError:  # 29 February
        return d.replace(year=d.year + y, day=28)


def base_case(rng, seq):
    """A case every rule passes."""
    decision = dt.date(2024, 1, 2) + dt.timedelta(days=rng.randrange(1000))
    degree = rng.choices(["本科", "硕士", "博士"], [70, 25, 5])[0]
    if degree == "本科":
        grad = decision - dt.timedelta(days=rng.randrange(1, 700))
    else:
        grad = decision - dt.timedelta(days=rng.randrange(1, 2000))
    age_at_grad = GRAD_AGE[degree] + rng.randrange(0, 3)
    birth = add_years(grad, -age_at_grad) - dt.timedelta(
        days=rng.randrange(365))
    idn = id_number(rng, birth)
    nm = name(rng)
    emp = uscc(rng)
    app = {"id_number": idn, "name": nm, "degree": degree,
           "employer_uscc": emp}
    if rng.random() < 0.8:
        app["phone"] = "1" + rng.choice("3456789") + "%09d" % rng.randrange(
            10**9)
    # Applicants write names with stray spaces or full-width dots.
    if "·" in nm and rng.random() < 0.5:
        app["name"] = nm.replace("·", "•")
    elif rng.random() < 0.05:
        app["name"] = nm[0] + " " + nm[1:]
    if idn.endswith("X") and rng.random() < 0.3:
        app["id_number"] = idn[:-1] + "x"
    case = {
        "application": app,
        "sources": {
            "hukou": {"name": nm, "id_number": idn,
                      "registered_city": rng.choice(CITIES),
                      "has_criminal_record": False},
            "xuexin": {"name": nm, "id_number": idn, "degree": degree,
                       "study_mode": "全日制",
                       "graduation_date": grad.isoformat(),
                       "school": rng.choice(SCHOOLS)},
            "shebao": {"months_paid": rng.randrange(1, 60),
                       "employer_uscc": emp, "city": "深圳市"},
        },
        "context": {"decision_date": decision.isoformat(),
                    "request_id": "req-%08d" % seq,
                    "channel": rng.choice(["i深圳", "kiosk", "web"])},
    }
    return case, birth, decision


def make_reject(rng, case, birth, decision):
    app = case["application"]
    kind = rng.choices(["id", "degree", "age", "mode"], [15, 30, 35, 20])[0]
    if kind == "id":
        idn = app["id_number"]
        bad = "0123456789"[("0123456789X".index(idn[-1].upper()) + 1) % 10]
        app["id_number"] = idn[:-1] + bad
    elif kind == "degree":
        app["degree"] = case["sources"]["xuexin"]["degree"] = rng.choice(
            ["大专", "中专", "高中"])
    elif kind == "age":
        lim = AGE_LIMIT[app["degree"]]
        old = add_years(decision, -(lim + 1 + rng.randrange(8))) - \
            dt.timedelta(days=rng.randrange(300))
        idn = id_number(rng, old, app["id_number"][:6])
        app["id_number"] = idn
        case["sources"]["hukou"]["id_number"] = idn
        case["sources"]["xuexin"]["id_number"] = idn
    else:
        case["sources"]["xuexin"]["study_mode"] = rng.choice(
            ["非全日制", "业余", "函授"])


def make_escalate(rng, case):
    s = case["sources"]
    kind = rng.choices(
        ["no-xuexin", "no-hukou", "no-shebao", "name", "city", "phone",
         "criminal", "employer", "degree-mismatch", "window"],
        [15, 8, 7, 12, 12, 10, 8, 10, 8, 10])[0]
    if kind == "no-xuexin":
        s["xuexin"] = None
    elif kind == "no-hukou":
        s["hukou"] = None
    elif kind == "no-shebao":
        del s["shebao"]
    elif kind == "name":
        s["hukou"]["name"] = name(rng)
    elif kind == "city":
        s["shebao"]["city"] = rng.choice(CITIES)
    elif kind == "phone":
        case["application"]["phone"] = "0755-" + "%08d" % rng.randrange(10**8)
    elif kind == "criminal":
        s["hukou"]["has_criminal_record"] = True
    elif kind == "employer":
        s["shebao"]["employer_uscc"] = uscc(rng)
    elif kind == "degree-mismatch":
        if case["application"]["degree"] == "本科":
            case["application"]["degree"] = "硕士"
        else:
            s["xuexin"]["degree"] = "本科"
            case["application"]["degree"] = "硕士" if \
                case["application"]["degree"] == "博士" else "博士"
    else:
        case["application"]["degree"] = s["xuexin"]["degree"] = "本科"
        d = dt.date.fromisoformat(case["context"]["decision_date"])
        s["xuexin"]["graduation_date"] = (
            d - dt.timedelta(days=800 + rng.randrange(300))).isoformat()


def cases(n, out, seed):
    rng = random.Random(seed)
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            case, birth, decision = base_case(rng, i)
            r = rng.random()
            if r < 0.25:
                make_reject(rng, case, birth, decision)
            elif r < 0.40:
                make_escalate(rng, case)
            f.write(json.dumps(case, ensure_ascii=False,
                               separators=(",", ":")) + "\n")


def ruleset(n, out):
    """sz-talent with its rules repeated to n, each copy with its own id
    and its own thresholds, so nothing can be shared between copies."""
    src = open(RULESET, encoding="utf-8").read()
    head, rest = src.split("<rules>", 1)
    body, tail = rest.split("</rules>", 1)
    rules = re.findall(r"<rule .*?</rule>", body, re.S)
    outb = []
    for i in range(n):
        r = rules[i % len(rules)]
        k = i // len(rules)
        r = re.sub(r'<rule id="([^"]+)"', r'<rule id="\1-%04d"' % i, r, 1)
        r = r.replace("months_paid ge 1<", "months_paid ge %d<" % (1 + k % 7))
        r = r.replace("^1[3-9]\\\\d{9}$", "^1[3-9]\\\\d{9}$|^9%d$" % k)
        outb.append("    " + r)
    with open(out, "w", encoding="utf-8") as f:
        f.write(head + "<rules>\n" + "\n".join(outb) + "\n  </rules>" + tail)


def table(rows, out):
    """A ruleset whose one rule looks a code up in a rows-row table."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<ruleset xmlns="urn:miaopi:rules:1" id="bench-table" '
             'version="1" effective-from="2024-01-01" default-lang="en">',
             '  <title xml:lang="en">Table lookup benchmark</title>',
             '  <application>',
             '    <field name="code" type="string" required="true"/>',
             '    <field name="amount" type="integer" required="true"/>',
             '  </application>',
             '  <tables>',
             '    <table name="limit_by_code" key="string" value="integer">']
    for i in range(rows):
        lines.append('      <row key="C%05d">%d</row>' % (i, 1000 + i))
    lines += ['    </table>', '  </tables>', '  <rules>',
              '    <rule id="within-limit" on-fail="reject" code="OVER">',
              '      <title xml:lang="en">Amount within the limit</title>',
              '      <basis>bench</basis>',
              '      <require>application.amount le '
              'limit_by_code[application.code]</require>',
              '      <message xml:lang="en">{application.amount} is over '
              'the limit for {application.code}.</message>',
              '    </rule>', '  </rules>', '</ruleset>']
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    seed = 20240501
    if "--seed" in argv:
        seed = int(argv[argv.index("--seed") + 1])
    what, n, out = argv[1], int(argv[2]), argv[3]
    {"cases": lambda: cases(n, out, seed), "ruleset": lambda: ruleset(n, out),
     "table": lambda: table(n, out)}[what]()


if __name__ == "__main__":
    main(sys.argv)
