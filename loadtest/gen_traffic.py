#!/usr/bin/env python3
"""Generate loadtest/traffic.json: synthetic vaccination records for Locust.

Standard library only, fixed seed: running it twice gives the same file.

    python3 loadtest/gen_traffic.py [--count 400] [--seed 2021] [--out loadtest/traffic.json]

The records are SYNTHETIC. Names are drawn from common Guatemalan given names
and surnames; departments are weighted by the 2018 census population
(INE Guatemala, Censo 2018, read from ../shared/data/guatemala-departments.json
or internal/catalog/data/departments.json); vaccines are the four MSPAS used in
2021-2022. No real person is described.

About 3% of the records are deliberately invalid and carry "_invalid": true and
"_reason"; the server must answer 422 for them. Keys that start with "_" are
metadata for the load test and are stripped before sending.
"""

import argparse
import datetime as dt
import json
import os
import random
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))

# Looked up in order; the first that exists is used.
DEPARTMENT_FILES = [
    os.path.join(HERE, "..", "internal", "catalog", "data", "departments.json"),
    os.path.join(HERE, "..", "..", "shared", "data", "guatemala-departments.json"),
    "/work/shared/data/guatemala-departments.json",
]

GIVEN_M = [
    "José", "Juan", "Luis", "Carlos", "Jorge", "Mario", "Pedro", "Francisco", "Manuel", "Miguel",
    "Antonio", "Marvin", "Byron", "Edgar", "Erick", "Oscar", "Julio", "Sergio", "Otto", "Duglas",
    "Selvin", "Wilson", "Kevin", "Brayan", "Diego", "Andrés", "Fernando", "Rigoberto", "Esteban",
    "Gerson", "Elmer", "Héctor", "Rony", "Walter", "Cristian", "Alejandro", "Tomás", "Santiago",
    "Domingo", "Gaspar", "Baltazar", "Diego", "Mynor", "Estuardo", "Alfredo", "Abner",
]
GIVEN_F = [
    "María", "Ana", "Rosa", "Juana", "Marta", "Carmen", "Sandra", "Gladys", "Claudia", "Lucía",
    "Sofía", "Andrea", "Dulce", "Karla", "Yesenia", "Ingrid", "Mildred", "Heidy", "Flor", "Olga",
    "Blanca", "Elena", "Isabel", "Fernanda", "Valeria", "Alejandra", "Mayra", "Silvia", "Reina",
    "Candelaria", "Petrona", "Catarina", "Magdalena", "Josefina", "Ixchel", "Nohemí", "Brenda",
    "Lesbia", "Aura", "Marleny", "Dora", "Estela", "Wendy", "Jennifer", "Evelyn",
]
SURNAMES = [
    "López", "García", "Pérez", "Hernández", "González", "Rodríguez", "Martínez", "Morales",
    "Ramírez", "Castillo", "Méndez", "Gómez", "Cruz", "Juárez", "Ramos", "Reyes", "Chávez",
    "Sánchez", "Velásquez", "Díaz", "Orellana", "Ajú", "Xicará", "Tzul", "Cux", "Coc", "Choc",
    "Caal", "Tzoc", "Ixcoy", "Tum", "Chun", "Quiej", "Sical", "Pop", "Batz", "Toj", "Sac",
    "Ávila", "Torres", "Barrios", "Monzón", "Lemus", "Aldana", "Recinos", "Menchú", "Cojtí",
    "Bámaca", "Fuentes", "Escobar", "Arévalo", "Estrada", "Mazariegos", "Solórzano", "Paz",
]

# Canonical name, then the spellings a client sometimes sends, with weights.
VACCINES = {
    "Moderna": [("Moderna", 9), ("MODERNA", 1)],
    "Oxford/AstraZeneca": [("Oxford/AstraZeneca", 6), ("AstraZeneca", 4)],
    "Sputnik V": [("Sputnik V", 7), ("sputnik v", 3)],
    "Pfizer-BioNTech": [("Pfizer-BioNTech", 6), ("Pfizer", 4)],
}
# Rough national shares of doses given in 2021-2022 (synthetic, not MSPAS data).
VACCINE_SHARE = [("Moderna", 28), ("Oxford/AstraZeneca", 27), ("Sputnik V", 20), ("Pfizer-BioNTech", 25)]
FIRST_USE = {
    "Moderna": dt.date(2021, 2, 25),
    "Oxford/AstraZeneca": dt.date(2021, 3, 2),
    "Sputnik V": dt.date(2021, 5, 5),
    "Pfizer-BioNTech": dt.date(2021, 8, 5),
}
LAST_DAY = dt.date(2022, 12, 31)
BOOSTERS_FROM = dt.date(2021, 11, 15)

# Age bands (12-95) weighted roughly like Guatemala's adult pyramid.
AGE_BANDS = [((12, 17), 12), ((18, 29), 26), ((30, 39), 18), ((40, 49), 14), ((50, 59), 11),
             ((60, 69), 9), ((70, 79), 6), ((80, 95), 4)]

# Deliberately invalid records (each expects 422). Every tuple: reason, mutation.
INVALID = [
    ("unknown department", lambda r: r.update(location="Chiapas")),
    ("unknown department", lambda r: r.update(location="Atlantida")),
    ("age out of range", lambda r: r.update(age=999)),
    ("negative age", lambda r: r.update(age=-4)),
    ("dose zero", lambda r: r.update(n_dose=0)),
    ("dose out of range", lambda r: r.update(n_dose=7)),
    ("empty name", lambda r: r.update(name="")),
    ("blank name", lambda r: r.update(name="   ")),
    ("unknown vaccine", lambda r: r.update(vaccine_type="Janssen")),
    ("unknown vaccine", lambda r: r.update(vaccine_type="Sinovac")),
    ("age is text", lambda r: r.update(age="veinte")),
    ("missing location", lambda r: r.pop("location")),
    ("dose is fractional", lambda r: r.update(n_dose=1.5)),
    ("vaccinated before the campaign", lambda r: r.update(vaccinated_at="2019-05-01")),
]


def strip_accents(s):
    return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")


def weighted(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.uniform(0, total)
    for v, w in pairs:
        x -= w
        if x <= 0:
            return v
    return pairs[-1][0]


def load_departments():
    for path in DEPARTMENT_FILES:
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            deps = data["departments"] if isinstance(data, dict) else data
            out = [(d["name"], int(d["population"]), list(d.get("aliases", []))) for d in deps]
            if len(out) != 22:
                sys.exit(f"{path}: expected 22 departments, got {len(out)}")
            return path, out
    sys.exit("guatemala-departments.json not found; looked in: " + ", ".join(DEPARTMENT_FILES))


def spell_location(rng, name, aliases):
    """Mostly the official name; sometimes an alias, upper case or no accents."""
    x = rng.random()
    if x < 0.70:
        return name
    if x < 0.80:
        return strip_accents(name)
    if x < 0.88:
        return name.upper()
    if x < 0.92:
        return name.lower()
    return rng.choice(aliases) if aliases else name


def person_name(rng):
    given = GIVEN_F if rng.random() < 0.51 else GIVEN_M
    parts = [rng.choice(given)]
    if rng.random() < 0.8:
        second = rng.choice(given)
        if second != parts[0]:
            parts.append(second)
    parts.append(rng.choice(SURNAMES))
    if rng.random() < 0.9:
        parts.append(rng.choice(SURNAMES))
    name = " ".join(parts)
    if rng.random() < 0.12:  # some forms drop the accents
        name = strip_accents(name)
    return name


def record(rng, deps):
    dep = weighted(rng, [(d, d[1]) for d in deps])
    lo, hi = weighted(rng, AGE_BANDS)
    age = rng.randint(lo, hi)
    if age < 18:  # adolescents got mRNA vaccines only
        vaccine = rng.choice(["Moderna", "Pfizer-BioNTech"])
    else:
        vaccine = weighted(rng, VACCINE_SHARE)
    dose = weighted(rng, [(1, 50), (2, 36), (3, 14)])
    rec = {
        "name": person_name(rng),
        "location": spell_location(rng, dep[0], dep[2]),
        "age": age,
        "vaccine_type": weighted(rng, VACCINES[vaccine]),
        "n_dose": dose,
    }
    if rng.random() < 0.3:
        start = FIRST_USE[vaccine]
        if dose == 3:
            start = max(start, BOOSTERS_FROM)
        day = start + dt.timedelta(days=rng.randint(0, (LAST_DAY - start).days))
        rec["vaccinated_at"] = day.isoformat()
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=400, help="number of records (default 400)")
    ap.add_argument("--seed", type=int, default=2021, help="random seed (default 2021)")
    ap.add_argument("--invalid", type=float, default=0.03, help="share of invalid records (default 0.03)")
    ap.add_argument("--out", default=os.path.join(HERE, "traffic.json"))
    args = ap.parse_args()

    rng = random.Random(args.seed)
    src, deps = load_departments()
    n_invalid = max(1, round(args.count * args.invalid))
    records = [record(rng, deps) for _ in range(args.count - n_invalid)]
    for i in range(n_invalid):
        rec = record(rng, deps)
        reason, mutate = INVALID[i % len(INVALID)]
        mutate(rec)
        rec["_invalid"] = True
        rec["_reason"] = reason
        records.insert(rng.randint(0, len(records)), rec)

    doc = {
        "synthetic": True,
        "description": "SYNTHETIC vaccination records for load tests; no real person is described. "
                       "Departments weighted by the 2018 census (INE Guatemala, Censo 2018). "
                       "Records with \"_invalid\": true must be refused with 422; keys starting with '_' "
                       "are test metadata, stripped before sending.",
        "generator": f"loadtest/gen_traffic.py --count {args.count} --seed {args.seed} --invalid {args.invalid}",
        "records": records,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    seen = {strip_accents(r.get("location", "")).lower() for r in records}
    print(f"wrote {args.out}: {len(records)} records, {n_invalid} invalid, "
          f"{len(deps)} departments from {os.path.relpath(src, HERE)}, {len(seen)} location spellings")


if __name__ == "__main__":
    main()
