# -*- coding: utf-8 -*-
# vim: set syntax=yaml ts=2 sw=2 sts=2 et :
#
# moat: create the moat firewall qube (default name sys-moat), the way a
# kernel-only service qube is deployed: StandaloneVM booting the kernel
# directory /var/lib/qubes/vm-kernels/moat in PVH mode, fixed memory (no
# balancing: moat has no meminfo writer), provides network to its clients,
# uplink sys-net.
#
#   sudo qubesctl --show-output state.sls moat
#
# Settings (pillar "moat", see /srv/pillar/base/moat.sls):
#   name, label, netvm, memory, vcpus, kernelopts, autostart
#   force: true             apply the settings to an existing qube too
#   default_netvm: true     make it the system's default_netvm
#   clients: [a, b]         make it the netvm of these qubes
#
# Create-only, like the stock qvm formulas: the qube's prefs, features and
# tags are written when the qube is created, and an existing qube is left
# as you set it (qvm-prefs, Qube Manager) unless the pillar says force.
# Switching default_netvm or clients happens on every run: it is what the
# pillar asks for, and it first starts moat, because a running qube can
# only be attached to a running netvm.
#
# Like the stock qvm formulas this never deletes anything; rolling back is
# moat.rollback.  Plain Jinja only, so the test suite renders it without Salt.
{%- set moat = salt['pillar.get']('moat', {}) or {} %}
{%- set name = moat.get('name', 'sys-moat') %}
{%- set clients = moat.get('clients', []) %}

moat-kernel-installed:
  file.exists:
    - name: /var/lib/qubes/vm-kernels/moat/vmlinuz

{{ name }}:
  qvm.vm:
    - name: {{ name }}
    - present:
      - class: StandaloneVM
      - label: {{ moat.get('label', 'orange') }}
    - prefs:
      - kernel: moat
      - kernelopts: "{{ moat.get('kernelopts', 'console=hvc0 quiet') }}"
      - virt-mode: pvh
      - memory: {{ moat.get('memory', 64) }}
      - maxmem: 0
      - vcpus: {{ moat.get('vcpus', 2) }}
      - netvm: {{ moat.get('netvm', 'sys-net') }}
      - provides-network: true
      - autostart: {{ moat.get('autostart', true) }}
      - include-in-backups: false
      - audiovm: ""
      - guivm: ""
    - features:
      - enable:
        - qubes-firewall
        - no-default-kernelopts
        - skip-update
        - qrexec
        - servicevm
      - disable:
        - gui
    - tags:
      - add:
        - moat
{%- if not moat.get('force', false) %}
    # Create-only: skipped (successfully) once the qube exists.
    - unless: qvm-check --quiet {{ name }}
{%- endif %}
    - require:
      - file: moat-kernel-installed

{%- if moat.get('default_netvm', false) or clients %}

# qvm.start boots moat if it is not running (and does nothing if it is);
# qvm.running would only check, and fail on a freshly created qube.
moat-started:
  qvm.start:
    - name: {{ name }}
    - require:
      - qvm: {{ name }}
{%- endif %}

{%- if moat.get('default_netvm', false) %}

moat-default-netvm:
  cmd.run:
    - name: qubes-prefs default_netvm {{ name }}
    - unless: test "$(qubes-prefs default_netvm)" = "{{ name }}"
    - require:
      - qvm: moat-started
{%- endif %}

{%- for client in clients %}

moat-client-{{ client }}:
  qvm.prefs:
    - name: {{ client }}
    - netvm: {{ name }}
    - require:
      - qvm: moat-started
{%- endfor %}
