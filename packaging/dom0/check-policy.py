#!/usr/bin/python3
"""Checker for Qubes OS 4.2 qrexec policy files (the /etc/qubes/policy.d format).

    check-policy.py FILE...                     report every error, exit 1 if any
    check-policy.py FILE --eval SVC[+ARG] SRC DST [--tag VM:TAG]... [--type VM:TYPE]...
                                                print the first matching rule's action

A policy file with a single bad line makes qrexec reject every call on the
machine, so the package's file is checked with this before it ships.  The
grammar is written from the format description (line = SERVICE ARGUMENT
SOURCE TARGET ACTION [PARAM=VALUE ...]); --eval gives first-match semantics
so tests can ask what a call would get.
"""
import os
import re
import sys

VM_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_.-]{0,30}$')
SERVICE = re.compile(r'^[A-Za-z0-9_.-]+$')
ARGUMENT = re.compile(r'^\+[A-Za-z0-9_.+-]*$')
FILE_NAME = re.compile(r'^[0-9a-z_.-]+\.policy$')
VM_TYPES = ('AdminVM', 'AppVM', 'DispVM', 'StandaloneVM', 'TemplateVM')
PARAMS = {
    'allow': {'target', 'user', 'notify', 'autostart'},
    'ask': {'target', 'user', 'notify', 'autostart', 'default_target'},
    'deny': {'notify'},
}
BOOL_PARAMS = {'notify', 'autostart'}


def check_token(tok, role):
    """Return None if tok is valid as a SOURCE/TARGET/redirect, else why not."""
    if tok in ('@anyvm', '@adminvm', '@dispvm'):
        return None
    if tok == '@default':
        return None if role == 'target' else '@default is only valid as a target'
    for prefix in ('@dispvm:@tag:', '@tag:'):
        if tok.startswith(prefix):
            rest = tok[len(prefix):]
            return None if re.match(r'^[A-Za-z0-9_.:-]+$', rest) else 'bad tag in %r' % tok
    if tok.startswith('@dispvm:'):
        rest = tok[len('@dispvm:'):]
        return None if VM_NAME.match(rest) else 'bad qube name in %r' % tok
    if tok.startswith('@type:'):
        return None if tok[6:] in VM_TYPES else 'unknown qube type in %r' % tok
    if tok.startswith('@'):
        return 'unknown keyword %r' % tok
    if tok == 'dom0' or VM_NAME.match(tok):
        return None
    return 'bad qube name %r' % tok


def parse(path):
    """Return (rules, errors).  A rule is (lineno, svc, arg, src, dst, action, params)."""
    rules, errors = [], []
    base = os.path.basename(path)
    if base.startswith('.') or not FILE_NAME.match(base):
        errors.append('%s: file name must match [0-9a-z_.-]+.policy' % base)
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue

        def err(msg):
            errors.append('%s:%d: %s' % (path, n, msg))
        toks = line.split()
        if toks[0].startswith('!'):
            want = {'!include': 1, '!include-dir': 1, '!include-service': 3, '!compat-4.0': 0}
            if toks[0] not in want:
                err('unknown directive %s' % toks[0])
            elif len(toks) - 1 != want[toks[0]]:
                err('%s takes %d argument(s)' % (toks[0], want[toks[0]]))
            continue
        if '#' in line:
            err('comments must be whole lines')
            continue
        if len(toks) < 5:
            err('need SERVICE ARGUMENT SOURCE TARGET ACTION')
            continue
        svc, arg, src, dst, action = toks[:5]
        if svc != '*' and not SERVICE.match(svc):
            err('bad service name %r' % svc)
        if arg != '*' and not ARGUMENT.match(arg):
            err('argument must be * or +ARG, got %r' % arg)
        if svc == '*' and arg != '*':
            err('service * needs argument *')
        for tok, role in ((src, 'source'), (dst, 'target')):
            why = check_token(tok, role)
            if why:
                err('%s: %s' % (role, why))
        if action not in PARAMS:
            err('action must be allow, ask or deny, got %r' % action)
            continue
        params = {}
        for p in toks[5:]:
            key, sep, val = p.partition('=')
            if not sep or not val:
                err('parameter %r is not KEY=VALUE' % p)
            elif key not in PARAMS[action]:
                err('%s does not take %s=' % (action, key))
            elif key in params:
                err('%s= given twice' % key)
            elif key in BOOL_PARAMS and val not in ('yes', 'no'):
                err('%s= must be yes or no' % key)
            elif key in ('target', 'default_target') and check_token(val, 'target'):
                err('%s=: %s' % (key, check_token(val, 'target')))
            else:
                params[key] = val
        rules.append((n, svc, arg, src, dst, action, params))
    return rules, errors


def matches(tok, vm, tags, types):
    if tok == '@anyvm':
        return vm not in ('dom0', '@adminvm')
    if tok in ('@adminvm', 'dom0'):
        return vm in ('dom0', '@adminvm')
    if tok.startswith('@tag:'):
        return tok[5:] in tags.get(vm, ())
    if tok.startswith('@type:'):
        return types.get(vm, 'AppVM') == tok[6:]
    return tok == vm


def evaluate(rules, call, src, dst, tags, types):
    svc, _, arg = call.partition('+')
    for n, rsvc, rarg, rsrc, rdst, action, params in rules:
        if rsvc != '*' and rsvc != svc:
            continue
        if rarg != '*' and rarg != '+' + arg:
            continue
        if matches(rsrc, src, tags, types) and matches(rdst, dst, tags, types):
            return '%s (line %d)' % (action, n)
    return 'nomatch'


def main(argv):
    if '--eval' in argv:
        i = argv.index('--eval')
        files, rest = argv[:i], argv[i + 1:]
        call, src, dst = rest[:3]
        tags, types = {}, {}
        opts = rest[3:]
        for flag, val in zip(opts[::2], opts[1::2]):
            vm, _, v = val.partition(':')
            if flag == '--tag':
                tags.setdefault(vm, set()).add(v)
            elif flag == '--type':
                types[vm] = v
        rules = []
        for f in sorted(files, key=os.path.basename):
            r, errors = parse(f)
            if errors:
                print('\n'.join(errors), file=sys.stderr)
                return 1
            rules += r
        print(evaluate(rules, call, src, dst, tags, types).split()[0])
        return 0
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    bad = 0
    for f in argv:
        rules, errors = parse(f)
        for e in errors:
            print(e, file=sys.stderr)
        bad += len(errors)
        if not errors:
            print('%s: %d rules, OK' % (f, len(rules)))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
