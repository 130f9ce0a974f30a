#!/usr/bin/python3
"""Offline checker for moat's Salt files (no Salt needed).

    check-salt.py check  FILE.sls [--pillar JSON]   render + validate a state file
    check-salt.py render FILE.sls [--pillar JSON]   print the rendered states as JSON
    check-salt.py top    FILE.top SALT_ROOT         validate a top file
    check-salt.py pillar FILE.sls                   validate a pillar file

A state file is rendered the way Salt's default yaml_jinja renderer would:
Jinja2 with "salt" (only pillar.get is provided) and "pillar", then YAML.
The result must have the shape Salt compiles (ID -> {module.function:
[one-key dicts]}), every requisite must name a state in the file, and the
qvm states may only use the actions, options, flags and properties that
Qubes' qvm module accepts in both 4.2 and 4.3 (QVM_FUNCS, PREFS_42 below);
anything else is a failure at apply time on the user's dom0, so it is a
failure here.  A state that attaches qubes to a netvm (qvm.prefs netvm,
qubes-prefs default_netvm, qvm-prefs ... netvm) must require a qvm.start of
that netvm: qvm.running is a check that fails on a halted qube.
"""
import json
import re
import sys

import jinja2
import yaml

# What each function of Qubes' qvm Salt module accepts, from the argument
# parsers of qubes-mgmt-salt-dom0-qvm (_modules/ext_module_qvm.py) on its
# release4.2 and release4.3 branches, restated here as data.  "check"
# functions only report a qube's state and fail when it is not so (qvm.running
# wraps "qvm.state NAME running"); "action" functions change it.  A formula
# that needs a qube running must use an action (qvm.start), never a check.
#   function: (kind, {option: value type}, {flags})
QVM_FUNCS = {
    'exists': ('check', {}, {'quiet'}),
    'missing': ('check', {}, {'quiet'}),
    'running': ('check', {}, set()),
    'halted': ('check', {}, set()),
    'present': ('action', {'template': 'str', 'label': 'label', 'class': 'class',
                           'mem': 'int', 'vcpus': 'int', 'root-move-from': 'str',
                           'root-copy-from': 'str'},
                {'proxy', 'hvm', 'hvm-template', 'net', 'standalone', 'quiet'}),
    'absent': ('action', {}, {'just-db', 'force-root', 'quiet'}),
    'start': ('action', {'drive': 'str', 'hddisk': 'str', 'cdrom': 'str',
                         'custom-config': 'str'},
              {'quiet', 'debug', 'install-windows-tools'}),
    'shutdown': ('action', {'exclude': 'list'},
                 {'quiet', 'kill', 'force', 'wait', 'all'}),
    'prefs': ('action', None, set()),        # PREFS below
    'features': ('action', {'enable': 'names', 'disable': 'names',
                            'default': 'names', 'set': 'pairs'}, set()),
    'service': ('action', {'enable': 'names', 'disable': 'names',
                           'default': 'names'}, set()),
    'tags': ('action', {'add': 'names', 'present': 'names', 'del': 'names',
                        'absent': 'names'}, set()),
}
# The keys qvm.vm accepts (its "actions" list); the ones missing from
# QVM_FUNCS exist but this formula has no business using them.
QVM_VM_ACTIONS = {'exists', 'running', 'missing', 'halted', 'absent', 'present',
                  'clone', 'prefs', 'devices', 'service', 'features', 'firewall',
                  'tags', 'unpause', 'pause', 'shutdown', 'kill', 'start', 'run'}
# qvm.prefs properties with their types, hyphen form.  4.3 accepts every 4.2
# key and adds devices-denied (and underscore aliases); the formula must run
# on both, so only keys both accept pass.
PREFS_42 = {
    'autostart': 'bool', 'debug': 'bool', 'default-user': 'str',
    'default-dispvm': 'vm', 'management-dispvm': 'vm', 'guivm': 'vm',
    'audiovm': 'vm', 'template-for-dispvms': 'bool', 'dispvm-allowed': 'bool',
    'virt-mode': 'virt', 'label': 'label', 'last-backup': 'str',
    'include-in-backups': 'bool', 'installed-by-rpm': 'bool', 'ip': 'str',
    'kernel': 'str', 'kernelopts': 'str', 'mac': 'str', 'maxmem': 'int',
    'memory': 'int', 'netvm': 'vm', 'pci-strictreset': 'bool',
    'pcidevs': 'list', 'provides-network': 'bool', 'template': 'str',
    'qrexec-timeout': 'int', 'updateable': 'bool', 'vcpus': 'int',
}
PREFS_43_ONLY = {'devices-denied'}
PREFS_KEYS = set(PREFS_42)
LABELS = {'red', 'orange', 'yellow', 'green', 'gray', 'blue', 'purple', 'black'}
CLASSES = {'AppVM', 'StandaloneVM', 'TemplateVM', 'DispVM'}
# Arguments Salt itself takes on any state (requisites and run conditions).
GLOBAL_ARGS = {'name', 'require', 'unless', 'onlyif'}
# Other state functions the formula may use, with their own arguments.
OTHER_STATES = {
    'file.exists': set(),
    'cmd.run': {'runas', 'cwd'},
}
# Commands in cmd.run that attach qubes to a netvm: the netvm must run.
NETVM_SWITCH_CMDS = (
    re.compile(r'\bqubes-prefs\s+(?:--set\s+|-s\s+)?default_netvm\s+([^\s;|&)]+)'),
    re.compile(r'\bqvm-prefs\s+(?:--set\s+|-s\s+)?\S+\s+netvm\s+([^\s;|&)]+)'),
)
PILLAR_KEYS = {'name', 'label', 'netvm', 'memory', 'vcpus', 'kernelopts',
               'autostart', 'force', 'default_netvm', 'clients', 'fallback'}


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

    def typed(self, where, key, kind, val):
        """Check one value against a type word of the tables above."""
        ok = {
            'str': lambda v: isinstance(v, str),
            'vm': lambda v: isinstance(v, str),
            'int': lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
            'bool': lambda v: isinstance(v, bool),
            'label': lambda v: v in LABELS,
            'class': lambda v: v in CLASSES,
            'virt': lambda v: v in ('pv', 'pvh', 'hvm'),
            'list': lambda v: isinstance(v, list),
            'names': lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
            'pairs': lambda v: isinstance(v, list) and all(
                isinstance(x, dict) and len(x) == 1 for x in v),
        }[kind]
        if not ok(val):
            want = {'int': 'a non-negative integer', 'bool': 'true or false',
                    'label': 'one of ' + ', '.join(sorted(LABELS)),
                    'class': 'one of ' + ', '.join(sorted(CLASSES)),
                    'virt': 'pv, pvh or hvm', 'names': 'a list of names',
                    'pairs': 'a list of one-key mappings'}.get(kind, 'a ' + kind)
            self.err(where, '%s must be %s, got %r' % (key, want, val))

    def qvm_args(self, where, fn, pairs):
        """The options of one qvm module function (a qvm.vm action's list,
        or a qvm.<fn> state's arguments less the global ones)."""
        if fn not in QVM_FUNCS:
            self.err(where, 'qvm.%s is not described in check-salt.py\'s table: '
                     'add it from the module\'s argument parser first' % fn)
            return
        _, options, flags = QVM_FUNCS[fn]
        for k, v in pairs:
            if fn == 'prefs':
                if k in PREFS_43_ONLY:
                    self.err(where, 'property %r is new in Qubes 4.3: qvm.prefs in 4.2 '
                             'refuses it' % k)
                elif k not in PREFS_42:
                    self.err(where, 'property %r is not settable by qvm.prefs in 4.2' % k)
                else:
                    self.typed(where, k, PREFS_42[k], v)
            elif k == 'flags':
                if not isinstance(v, list) or not set(v) <= flags:
                    self.err(where, 'qvm.%s flags are %s, got %r' %
                             (fn, sorted(flags) or 'none', v))
            elif k not in options:
                self.err(where, 'qvm.%s does not take %r' % (fn, k))
            else:
                self.typed(where, k, options[k], v)

    def global_args(self, sid, k, v):
        if k == 'name' and not isinstance(v, str):
            self.err(sid, 'name must be a string')
        if k in ('unless', 'onlyif') and not (
                isinstance(v, str) or
                (isinstance(v, list) and all(isinstance(x, str) for x in v))):
            self.err(sid, '%s must be a command or a list of commands' % k)

    def qvm_vm(self, sid, args):
        for key, val in self.one_key_list(sid, args):
            if key in GLOBAL_ARGS:
                self.global_args(sid, key, val)
                continue
            if key not in QVM_VM_ACTIONS:
                self.err(sid, 'unknown qvm.vm action %r' % key)
                continue
            self.qvm_args('%s: %s' % (sid, key), key, self.one_key_list(
                '%s: %s' % (sid, key), val))

    def states(self, data):
        if not isinstance(data, dict) or not data:
            self.err('file', 'must render to a non-empty mapping of state IDs')
            return
        # Requisites match a state's ID, per module, or -- only when no state
        # has that ID, as Salt resolves them -- its name argument.
        byid, byname = {}, {}
        for sid, body in data.items():
            if isinstance(body, dict) and len(body) == 1:
                fn, args = next(iter(body.items()))
                byid[(fn.split('.')[0], sid)] = {sid}
                for k, v in self.one_key_list(sid, args) if isinstance(args, list) else []:
                    if k == 'name' and isinstance(v, str):
                        byname.setdefault((fn.split('.')[0], v), set()).add(sid)
        byref = dict(byname)
        for (mod, sid), ids in byid.items():
            byref[(mod, sid)] = ids
        for (mod, name) in byname:
            if name in data and (mod, name) not in byid:
                del byref[(mod, name)]
        self.errors.clear()
        parsed = {}
        for sid, body in data.items():
            if not isinstance(body, dict) or len(body) != 1:
                self.err(sid, 'must map to exactly one state function')
                continue
            fn, args = next(iter(body.items()))
            pairs = self.one_key_list(sid, args)
            parsed[sid] = (fn, pairs)
            if fn == 'qvm.vm':
                self.qvm_vm(sid, args)
            elif fn.startswith('qvm.'):
                for k, v in pairs:
                    if k in GLOBAL_ARGS:
                        self.global_args(sid, k, v)
                self.qvm_args(sid, fn[4:], [(k, v) for k, v in pairs if k not in GLOBAL_ARGS])
            elif fn in OTHER_STATES:
                for k, v in pairs:
                    if k in GLOBAL_ARGS:
                        self.global_args(sid, k, v)
                    elif k not in OTHER_STATES[fn]:
                        self.err(sid, '%s does not take %r here' % (fn, k))
            else:
                self.err(sid, 'state function %r is not one the formula may use' % fn)
                continue
        requires = {}
        for sid, (fn, pairs) in parsed.items():
            requires[sid] = set()
            for k, v in pairs:
                if k != 'require':
                    continue
                for mod, target in self.one_key_list('%s: require' % sid, v):
                    if (mod, target) not in byref:
                        self.err(sid, 'require names no state: %s: %s' % (mod, target))
                    else:
                        requires[sid] |= byref[(mod, target)]
        self.netvm_order(parsed, requires)

    def netvm_order(self, parsed, requires):
        """A state that attaches qubes to a netvm must come after a state
        that starts that netvm: qubesd refuses to attach a running qube to
        a stopped netvm.  Checks (qvm.running) do not start anything."""
        def name_of(sid, pairs):
            return next((v for k, v in pairs if k == 'name'), sid)

        def starts(sid):
            fn, pairs = parsed[sid]
            if fn == 'qvm.start':
                return name_of(sid, pairs)
            if fn == 'qvm.vm' and any(k == 'start' for k, _ in pairs):
                return name_of(sid, pairs)
            return None

        def checks_running(sid):
            fn, pairs = parsed[sid]
            if fn == 'qvm.running' or (fn == 'qvm.vm' and any(k == 'running' for k, _ in pairs)):
                return name_of(sid, pairs)
            return None

        for sid, (fn, pairs) in parsed.items():
            targets = []
            if fn == 'qvm.prefs':
                targets = [v for k, v in pairs if k == 'netvm']
            elif fn == 'qvm.vm' and not any(k == 'present' for k, _ in pairs):
                # A qvm.vm that creates the qube sets its netvm while it
                # is halted; one that only configures a qube may not.
                for k, v in pairs:
                    if k == 'prefs' and isinstance(v, list):
                        targets += [x['netvm'] for x in v
                                    if isinstance(x, dict) and 'netvm' in x]
            elif fn == 'cmd.run':
                cmd = name_of(sid, pairs)
                for rx in NETVM_SWITCH_CMDS:
                    targets += rx.findall(cmd if isinstance(cmd, str) else '')
            for target in targets:
                if target in (None, '', 'none', '*default*'):
                    continue
                seen, todo = set(), list(requires.get(sid, ()))
                while todo:
                    r = todo.pop()
                    if r not in seen:
                        seen.add(r)
                        todo += requires.get(r, ())
                if any(starts(r) == target for r in seen):
                    continue
                checked = [r for r in seen if checks_running(r) == target]
                if checked:
                    self.err(sid, 'attaches qubes to %s but only requires %s, a check '
                             '(qvm.running fails when %s is halted; it starts nothing): '
                             'require a qvm.start of %s' % (target, checked[0], target, target))
                else:
                    self.err(sid, 'attaches qubes to %s without requiring a qvm.start of '
                             'it (a running qube cannot move to a halted netvm)' % target)


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
    qube = re.compile(r'^[A-Za-z][A-Za-z0-9_.-]{0,30}$')
    for k, v in settings.items():
        if k not in PILLAR_KEYS:
            c.err(path, 'unknown setting moat:%s' % k)
        elif k == 'clients' and not (isinstance(v, list) and all(
                isinstance(x, str) and qube.match(x) for x in v)):
            c.err(path, 'moat:clients must be a list of qube names')
        elif k in ('name', 'netvm', 'fallback') and not (isinstance(v, str) and qube.match(v)):
            # They end up in shell commands and awk programs of the states.
            c.err(path, 'moat:%s must be a qube name, got %r' % (k, v))
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
