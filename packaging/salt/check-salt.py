#!/usr/bin/python3
"""Offline checker for moat's Salt files (no Salt needed).

    check-salt.py check  FILE.sls [--pillar JSON]   render + validate a state file
    check-salt.py render FILE.sls [--pillar JSON]   print the rendered states as JSON
    check-salt.py top    FILE.top SALT_ROOT         validate a top file
    check-salt.py pillar FILE.sls                   validate a pillar file

A state file is rendered the way Salt's default yaml_jinja renderer would:
Jinja2 with "salt" (only pillar.get is provided) and "pillar", then YAML.
The result must have the shape Salt compiles (ID -> {module.function:
[one-key dicts]}), every requisite must name a state in the file, and
qvm.vm/qvm.prefs may only use the actions and the Qubes 4.2 property
names the qvm state module accepts; anything else is a failure at apply
time on the user's dom0, so it is a failure here.
"""
import json
import sys

import jinja2
import yaml

QVM_ACTIONS = {'exists', 'running', 'missing', 'halted', 'absent', 'present',
               'clone', 'prefs', 'devices', 'service', 'features', 'firewall',
               'tags', 'unpause', 'pause', 'shutdown', 'kill', 'start', 'run'}
PRESENT_KEYS = {'template', 'label', 'class', 'mem', 'vcpus',
                'root-move-from', 'root-copy-from', 'flags'}
PREFS_KEYS = {'autostart', 'debug', 'default-user', 'default-dispvm',
              'management-dispvm', 'guivm', 'audiovm', 'template-for-dispvms',
              'dispvm-allowed', 'virt-mode', 'label', 'last-backup',
              'include-in-backups', 'installed-by-rpm', 'ip', 'kernel',
              'kernelopts', 'mac', 'maxmem', 'memory', 'netvm',
              'pci-strictreset', 'pcidevs', 'provides-network', 'template',
              'qrexec-timeout', 'updateable', 'vcpus'}
FEATURE_KEYS = {'enable', 'disable', 'default', 'set'}
TAG_KEYS = {'add', 'del', 'present', 'absent'}
LABELS = {'red', 'orange', 'yellow', 'green', 'gray', 'blue', 'purple', 'black'}
CLASSES = {'AppVM', 'StandaloneVM', 'TemplateVM', 'DispVM'}
INT_PREFS = {'memory', 'maxmem', 'vcpus', 'qrexec-timeout'}
BOOL_PREFS = {'autostart', 'debug', 'include-in-backups', 'provides-network',
              'installed-by-rpm', 'template-for-dispvms', 'dispvm-allowed'}
# Other state functions the formula may use, with the arguments it may pass.
OTHER_STATES = {
    'qvm.running': {'name', 'require'},
    'qvm.exists': {'name', 'require'},
    'file.exists': {'name', 'require'},
    'cmd.run': {'name', 'unless', 'onlyif', 'require', 'runas', 'cwd'},
}
PILLAR_KEYS = {'name', 'label', 'netvm', 'memory', 'vcpus', 'kernelopts',
               'autostart', 'default_netvm', 'clients', 'fallback'}


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (Salt would keep the last one)."""


def _mapping(loader, node, deep=False):
    seen = set()
    for k, _ in node.value:
        key = loader.construct_object(k, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, 'duplicate key %r' % (key,), k.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def pillar_get(pillar):
    def get(key, default=''):
        cur = pillar
        for part in key.split(':'):
            if not isinstance(cur, dict) or part not in cur:
                return default
            cur = cur[part]
        return cur
    return get


def render(path, pillar):
    with open(path, encoding='utf-8') as f:
        src = f.read()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    text = env.from_string(src).render(salt={'pillar.get': pillar_get(pillar)},
                                       pillar=pillar)
    data = yaml.load(text, Loader=UniqueKeyLoader)
    return data, text


class Checker:
    def __init__(self):
        self.errors = []

    def err(self, where, msg):
        self.errors.append('%s: %s' % (where, msg))

    def one_key_list(self, where, val):
        """A Salt argument list: each item a dict with one key."""
        if not isinstance(val, list):
            self.err(where, 'must be a list')
            return []
        out = []
        for item in val:
            if not isinstance(item, dict) or len(item) != 1:
                self.err(where, 'item %r is not a one-key mapping' % (item,))
                continue
            out.append(next(iter(item.items())))
        return out

    def pref_value(self, where, key, val):
        if key in INT_PREFS and (not isinstance(val, int) or isinstance(val, bool)
                                 or val < 0):
            self.err(where, '%s must be a non-negative integer, got %r' % (key, val))
        if key in BOOL_PREFS and not isinstance(val, bool):
            self.err(where, '%s must be true or false, got %r' % (key, val))
        if key == 'label' and val not in LABELS:
            self.err(where, 'unknown label %r' % (val,))
        if key == 'virt-mode' and val not in ('pv', 'pvh', 'hvm'):
            self.err(where, 'virt-mode must be pv, pvh or hvm, got %r' % (val,))
        if isinstance(val, (list, dict)) and key != 'pcidevs':
            self.err(where, '%s must be a scalar' % key)

    def qvm_vm(self, sid, args):
        for key, val in self.one_key_list(sid, args):
            where = '%s: %s' % (sid, key)
            if key in ('name', 'require'):
                continue
            if key not in QVM_ACTIONS:
                self.err(sid, 'unknown qvm.vm action %r' % key)
                continue
            if key == 'present':
                for k, v in self.one_key_list(where, val):
                    if k not in PRESENT_KEYS:
                        self.err(where, 'unknown key %r' % k)
                    elif k == 'class' and v not in CLASSES:
                        self.err(where, 'unknown class %r' % (v,))
                    elif k == 'label' and v not in LABELS:
                        self.err(where, 'unknown label %r' % (v,))
            elif key == 'prefs':
                for k, v in self.one_key_list(where, val):
                    if k not in PREFS_KEYS:
                        self.err(where, 'property %r is not settable by qvm.prefs in 4.2' % k)
                    else:
                        self.pref_value(where, k, v)
            elif key in ('features', 'service'):
                for k, v in self.one_key_list(where, val):
                    if k not in FEATURE_KEYS:
                        self.err(where, 'unknown key %r' % k)
                    elif k == 'set':
                        self.one_key_list('%s: set' % where, v)
                    elif not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                        self.err(where, '%s must be a list of names' % k)
            elif key == 'tags':
                for k, v in self.one_key_list(where, val):
                    if k not in TAG_KEYS:
                        self.err(where, 'unknown key %r' % k)
                    elif not isinstance(v, list):
                        self.err(where, '%s must be a list' % k)

    def qvm_prefs(self, sid, args):
        for key, val in self.one_key_list(sid, args):
            if key in ('name', 'require'):
                continue
            if key not in PREFS_KEYS:
                self.err(sid, 'property %r is not settable by qvm.prefs in 4.2' % key)
            else:
                self.pref_value(sid, key, val)

    def states(self, data):
        if not isinstance(data, dict) or not data:
            self.err('file', 'must render to a non-empty mapping of state IDs')
            return
        # Requisites match a state's ID or its name argument, per module.
        known = set()
        for sid, body in data.items():
            if isinstance(body, dict) and len(body) == 1:
                fn, args = next(iter(body.items()))
                known.add((fn.split('.')[0], sid))
                for k, v in self.one_key_list(sid, args) if isinstance(args, list) else []:
                    if k == 'name':
                        known.add((fn.split('.')[0], v))
        self.errors.clear()
        for sid, body in data.items():
            if not isinstance(body, dict) or len(body) != 1:
                self.err(sid, 'must map to exactly one state function')
                continue
            fn, args = next(iter(body.items()))
            if fn == 'qvm.vm':
                self.qvm_vm(sid, args)
            elif fn == 'qvm.prefs':
                self.qvm_prefs(sid, args)
            elif fn in OTHER_STATES:
                for k, _ in self.one_key_list(sid, args):
                    if k not in OTHER_STATES[fn]:
                        self.err(sid, '%s does not take %r here' % (fn, k))
            else:
                self.err(sid, 'state function %r is not one the formula may use' % fn)
                continue
            for k, v in self.one_key_list(sid, args):
                if k != 'require':
                    continue
                for mod, target in self.one_key_list('%s: require' % sid, v):
                    if (mod, target) not in known:
                        self.err(sid, 'require names no state: %s: %s' % (mod, target))


def check_top(path, root):
    import os
    c = Checker()
    with open(path, encoding='utf-8') as f:
        data = yaml.load(f, Loader=UniqueKeyLoader)
    if not isinstance(data, dict) or 'base' not in data:
        c.err(path, 'top file must have a base environment')
        return c.errors
    for target, items in data['base'].items():
        if not isinstance(items, list):
            c.err(path, '%s: must be a list' % target)
            continue
        if target == 'dom0' and {'match': 'nodegroup'} not in items:
            c.err(path, 'dom0 needs "- match: nodegroup" (Qubes nodegroups)')
        for item in items:
            if isinstance(item, dict):
                continue
            rel = item.replace('.', '/')
            if root and not (os.path.exists(os.path.join(root, rel + '.sls')) or
                             os.path.exists(os.path.join(root, rel, 'init.sls'))):
                c.err(path, 'names %r but there is no such sls under %s' % (item, root))
    return c.errors


def check_pillar(path):
    c = Checker()
    with open(path, encoding='utf-8') as f:
        data = yaml.load(f, Loader=UniqueKeyLoader)
    if not isinstance(data, dict) or list(data) != ['moat']:
        c.err(path, 'must define exactly the key "moat"')
        return c.errors
    settings = data['moat'] or {}
    if not isinstance(settings, dict):
        c.err(path, 'moat: must be a mapping')
        return c.errors
    for k, v in settings.items():
        if k not in PILLAR_KEYS:
            c.err(path, 'unknown setting moat:%s' % k)
        elif k == 'clients' and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            c.err(path, 'moat:clients must be a list of qube names')
    return c.errors


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, path = argv[0], argv[1]
    pillar = {}
    if '--pillar' in argv:
        pillar = json.loads(argv[argv.index('--pillar') + 1])
    try:
        if cmd in ('check', 'render'):
            data, _ = render(path, pillar)
            if cmd == 'render':
                print(json.dumps(data, indent=1, sort_keys=True))
                return 0
            c = Checker()
            c.states(data)
            errors = c.errors
        elif cmd == 'top':
            errors = check_top(path, argv[2] if len(argv) > 2 else None)
        elif cmd == 'pillar':
            errors = check_pillar(path)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (jinja2.TemplateError, yaml.YAMLError) as e:
        print('%s: %s' % (path, e), file=sys.stderr)
        return 1
    for e in errors:
        print('%s: %s' % (path, e), file=sys.stderr)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
