# -*- coding: utf-8 -*-
# vim: set syntax=yaml ts=2 sw=2 sts=2 et :
#
# moat.rollback: move networking back to the stock sys-firewall.
#
#   sudo qubesctl --show-output state.sls moat.rollback
#
# 1. starts sys-firewall (qvm.start: a running qube cannot be moved to a
#    stopped netvm, and sys-firewall is usually stopped once moat has
#    replaced it; qvm.running would only check),
# 2. makes it the default_netvm again if moat was the default,
# 3. moves every qube whose netvm is still moat to it: the ones listed in
#    pillar moat:clients and the ones you switched by hand alike (qvm-ls
#    tells which),
# 4. turns sys-firewall's autostart back on and moat's off.
# The moat qube itself is left in place, running: shut it down and remove it
# with qvm-remove once nothing uses it (see the install guide).
{%- set moat = salt['pillar.get']('moat', {}) or {} %}
{%- set name = moat.get('name', 'sys-moat') %}
{%- set fallback = moat.get('fallback', 'sys-firewall') %}
{#- qvm-ls --raw-data prints NAME|NETVM, one qube a line, no header. #}
{%- set users = "qvm-ls --raw-data --fields NAME,NETVM | awk -F'|' '$2 == \"" ~ name ~ "\" { print $1 }'" %}

moat-fallback-started:
  qvm.start:
    - name: {{ fallback }}

moat-restore-default-netvm:
  cmd.run:
    - name: qubes-prefs default_netvm {{ fallback }}
    - onlyif: test "$(qubes-prefs default_netvm)" = "{{ name }}"
    - require:
      - qvm: moat-fallback-started

# After the default is back, the qubes still on moat are those whose netvm
# was set explicitly; they are set explicitly to the fallback.
moat-restore-clients:
  cmd.run:
    - name: |
        set -e
        for q in $({{ users }}); do
          qvm-prefs "$q" netvm {{ fallback }}
        done
    - onlyif: test -n "$({{ users }})"
    - require:
      - qvm: moat-fallback-started
      - cmd: moat-restore-default-netvm

moat-fallback-autostart:
  qvm.prefs:
    - name: {{ fallback }}
    - autostart: true
    - require:
      - cmd: moat-restore-clients

moat-no-autostart:
  qvm.prefs:
    - name: {{ name }}
    - autostart: false
    - require:
      - cmd: moat-restore-clients
