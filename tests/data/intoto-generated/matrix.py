"""Builds the in-toto interoperability matrix for tests/intoto_layouts.rs.

Run as `python3 matrix.py OUTDIR`. Needs in-toto 3.1.0 (scripts/setup installs it).
Every case is a directory OUTDIR/<case>/ holding `root.layout`, the links, and the
artifacts; OUTDIR/keys/ holds the keys (PKCS#8 private, SPKI public PEM). Links are
recorded with `in-toto-run`, legacy layouts signed with `in-toto-sign`, layouts built
with in-toto's Python layout API. OUTDIR/cases.json lists each case with the owner
keys to verify with and whether in-toto's reference is expected to accept it.
"""

import datetime
import json
import os
import shutil
import subprocess
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from in_toto.models.layout import Inspection, Layout, Step
from in_toto.models.metadata import Envelope, Metablock
from in_toto.models._signer import load_public_key_from_file
from securesystemslib.signer import CryptoSigner

OUT = os.path.abspath(sys.argv[1])
KEYS = os.path.join(OUT, "keys")


def make_key(name, kind):
    if kind == "rsa":
        priv = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    elif kind == "p256":
        priv = ec.generate_private_key(ec.SECP256R1())
    elif kind == "p384":
        priv = ec.generate_private_key(ec.SECP384R1())
    else:
        priv = ed25519.Ed25519PrivateKey.generate()
    with open(os.path.join(KEYS, name), "wb") as f:
        f.write(priv.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    with open(os.path.join(KEYS, name + ".pub"), "wb") as f:
        f.write(priv.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo))
    return load_public_key_from_file(os.path.join(KEYS, name + ".pub"))


def key_path(name):
    return os.path.join(KEYS, name)


def run(cwd, *args):
    subprocess.run(list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def record(cwd, step, key, materials, products, cmd, dsse=False, out_dir=None):
    args = ["in-toto-run", "-n", step, "--signing-key", key_path(key)]
    if materials:
        args += ["-m"] + materials
    if products:
        args += ["-p"] + products
    if dsse:
        args += ["--use-dsse"]
    if out_dir:
        args += ["-d", out_dir]
    run(cwd, *args, "--", *cmd)


def layout(keys, pkg_threshold=1, pkg_keys=("carol",), match_from="write",
           expires_days=30, inspect=False, write_keys=("bob",)):
    lay = Layout()
    lay.set_relative_expiration(days=expires_days)
    if expires_days < 0:
        lay.expires = (datetime.datetime.now(datetime.timezone.utc)
                       - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for k in set(write_keys) | set(pkg_keys):
        lay.add_functionary_key(keys[k])
    write = Step(name="write")
    write.pubkeys = [keys[k]["keyid"] for k in write_keys]
    write.set_expected_command_from_string("sh -c")
    write.add_product_rule_from_string("CREATE foo.py")
    write.add_product_rule_from_string("DISALLOW *")
    pkg = Step(name="package")
    pkg.pubkeys = [keys[k]["keyid"] for k in pkg_keys]
    pkg.threshold = pkg_threshold
    pkg.set_expected_command_from_string("tar zcf foo.tar.gz foo.py")
    pkg.add_material_rule_from_string(f"MATCH foo.py WITH PRODUCTS FROM {match_from}")
    pkg.add_material_rule_from_string("DISALLOW *")
    pkg.add_product_rule_from_string("CREATE foo.tar.gz")
    pkg.add_product_rule_from_string("DISALLOW *")
    lay.steps = [write, pkg]
    if inspect:
        ins = Inspection(name="untar")
        ins.set_run_from_string("tar xzf foo.tar.gz")
        ins.add_material_rule_from_string("MATCH foo.tar.gz WITH PRODUCTS FROM package")
        ins.add_material_rule_from_string("ALLOW *")
        ins.add_product_rule_from_string("MATCH foo.py WITH PRODUCTS FROM write")
        ins.add_product_rule_from_string("ALLOW *")
        lay.inspect = [ins]
    return lay


def sign_legacy(case_dir, lay, owners=("alice",)):
    path = os.path.join(case_dir, "root.layout")
    Metablock(signed=lay).dump(path)
    run(case_dir, "in-toto-sign", "-f", path, "-k", *[key_path(o) for o in owners])


def sign_dsse(case_dir, lay, owners=("alice",)):
    env = Envelope.from_signable(lay)
    for o in owners:
        with open(key_path(o), "rb") as f:
            priv = serialization.load_pem_private_key(f.read(), None)
        env.create_signature(CryptoSigner(priv))
    env.dump(os.path.join(case_dir, "root.layout"))


def chain(case_dir, dsse=False, extra_write_file=False, pkg_keys=("carol",), differ=False):
    os.makedirs(case_dir)
    script = "echo 'print(1)' > foo.py" + ("; echo x > extra.txt" if extra_write_file else "")
    prods = ["foo.py"] + (["extra.txt"] if extra_write_file else [])
    record(case_dir, "write", "bob", [], prods, ["sh", "-c", script], dsse)
    run(case_dir, "tar", "--mtime=2020-01-01", "--owner=0", "--group=0", "-zcf", "foo.tar.gz", "foo.py")
    for i, k in enumerate(pkg_keys):
        if differ and i == 1:
            with open(os.path.join(case_dir, "foo.tar.gz"), "ab") as f:
                f.write(b"\0")
        record(case_dir, "package", k, ["foo.py"], ["foo.tar.gz"],
               ["tar", "--mtime=2020-01-01", "--owner=0", "--group=0", "-zcf", "foo.tar.gz", "foo.py"]
               if not (differ and i == 1) else ["true"], dsse)


def link_file(case_dir, step, keyid):
    return os.path.join(case_dir, f"{step}.{keyid[:8]}.link")


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(KEYS)
    keys = {
        "alice": make_key("alice", "rsa"),
        "owner2": make_key("owner2", "p256"),
        "bob": make_key("bob", "ed25519"),
        "carol": make_key("carol", "p256"),
        "dave": make_key("dave", "p384"),
        "erin": make_key("erin", "ed25519"),
        "mallory": make_key("mallory", "ed25519"),
    }
    cases = []

    def case(name, expect_ok, owners=("alice",), inspections=False):
        cases.append({"name": name, "expect_ok": expect_ok, "owners": list(owners),
                      "inspections": inspections})
        return os.path.join(OUT, name)

    d = case("good-legacy", True)
    chain(d)
    sign_legacy(d, layout(keys))

    d = case("good-dsse", True)
    chain(d, dsse=True)
    sign_dsse(d, layout(keys))

    d = case("good-inspection", True, inspections=True)
    chain(d)
    sign_legacy(d, layout(keys, inspect=True))

    d = case("tampered-link", False)
    chain(d)
    sign_legacy(d, layout(keys))
    p = link_file(d, "write", keys["bob"]["keyid"])
    with open(p) as f:
        meta = json.load(f)
    meta["signed"]["products"]["foo.py"]["sha256"] = "0" * 64
    with open(p, "w") as f:
        json.dump(meta, f)

    d = case("tampered-layout", False)
    chain(d)
    sign_legacy(d, layout(keys))
    p = os.path.join(d, "root.layout")
    with open(p) as f:
        meta = json.load(f)
    meta["signed"]["steps"][1]["expected_materials"][1] = ["ALLOW", "*"]
    with open(p, "w") as f:
        json.dump(meta, f)

    d = case("unauthorized-functionary", False)
    os.makedirs(d)
    record(d, "write", "mallory", [], ["foo.py"], ["sh", "-c", "echo 'print(1)' > foo.py"])
    run(d, "tar", "-zcf", "foo.tar.gz", "foo.py")
    record(d, "package", "carol", ["foo.py"], ["foo.tar.gz"], ["true"])
    shutil.copy(link_file(d, "write", keys["mallory"]["keyid"]),
                link_file(d, "write", keys["bob"]["keyid"]))
    sign_legacy(d, layout(keys))

    d = case("threshold-2-good", True)
    chain(d, pkg_keys=("carol", "dave"))
    sign_legacy(d, layout(keys, pkg_threshold=2, pkg_keys=("carol", "dave")))

    d = case("threshold-2-one-key-twice", False)
    chain(d)
    shutil.copy(link_file(d, "package", keys["carol"]["keyid"]),
                link_file(d, "package", keys["dave"]["keyid"]))
    sign_legacy(d, layout(keys, pkg_threshold=2, pkg_keys=("carol", "dave")))

    d = case("threshold-2-products-differ", False)
    chain(d, pkg_keys=("carol", "dave"), differ=True)
    sign_legacy(d, layout(keys, pkg_threshold=2, pkg_keys=("carol", "dave")))

    d = case("disallow-hit", False)
    chain(d, extra_write_file=True)
    sign_legacy(d, layout(keys))

    d = case("match-wrong-step", False)
    chain(d)
    sign_legacy(d, layout(keys, match_from="package"))

    d = case("expired", False)
    chain(d)
    sign_legacy(d, layout(keys, expires_days=-1))

    d = case("one-of-two-owners", False, owners=("alice", "owner2"))
    chain(d)
    sign_legacy(d, layout(keys))

    d = case("two-owners", True, owners=("alice", "owner2"))
    chain(d)
    sign_legacy(d, layout(keys), owners=("alice", "owner2"))

    # Sublayout: the root delegates "write" to bob, whose own layout has erin do "edit".
    d = case("sublayout", True)
    os.makedirs(d)
    sub_dir = os.path.join(d, "write." + keys["bob"]["keyid"][:8])
    os.makedirs(sub_dir)
    record(d, "edit", "erin", [], ["foo.py"], ["sh", "-c", "echo 'print(1)' > foo.py"],
           out_dir=sub_dir)
    sub = Layout()
    sub.set_relative_expiration(days=30)
    sub.add_functionary_key(keys["erin"])
    edit = Step(name="edit")
    edit.pubkeys = [keys["erin"]["keyid"]]
    edit.add_product_rule_from_string("CREATE foo.py")
    edit.add_product_rule_from_string("DISALLOW *")
    sub.steps = [edit]
    sub_path = link_file(d, "write", keys["bob"]["keyid"])
    Metablock(signed=sub).dump(sub_path)
    run(d, "in-toto-sign", "-f", sub_path, "-k", key_path("bob"))
    run(d, "tar", "--mtime=2020-01-01", "-zcf", "foo.tar.gz", "foo.py")
    record(d, "package", "carol", ["foo.py"], ["foo.tar.gz"], ["true"])
    sign_legacy(d, layout(keys))

    d = case("sublayout-broken", False)
    shutil.copytree(os.path.join(OUT, "sublayout"), d)
    with open(os.path.join(d, "foo.py"), "w") as f:
        f.write("print(2)\n")
    run(d, "tar", "--mtime=2020-01-01", "-zcf", "foo.tar.gz", "foo.py")
    os.remove(link_file(d, "package", keys["carol"]["keyid"]))
    record(d, "package", "carol", ["foo.py"], ["foo.tar.gz"], ["true"])

    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


main()
