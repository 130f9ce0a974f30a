# -*- coding: utf-8 -*-
# vim: set syntax=yaml ts=2 sw=2 sts=2 et :
#
# moat.rollback: move networking back to the stock sys-firewall.
#
#   sudo qubesctl state.sls moat.rollback
#
# Starts sys-firewall first (a running qube cannot be moved to a stopped
# netvm), makes it the default_netvm again if moat was the default, moves the
# qubes listed in pillar moat:clients back, and stops moat from autostarting.
# The moat qube itself is left in place: remove it with qvm-remove once
# nothing uses it (see the install guide).
{%- set moat = salt['pillar.get']('moat', {}) or {} %}
{%- set name = moat.get('name', 'sys-moat') %}
{%- set fallback = moat.get('fallback', 'sys-firewall') %}

moat-fallback-running:
  qvm.running:
    - name: {{ fallback }}

moat-restore-default-netvm:
  cmd.run:
    - name: qubes-prefs default_netvm {{ fallback }}
    - onlyif: test "$(qubes-prefs default_netvm)" = "{{ name }}"
    - require:
      - qvm: moat-fallback-running

{%- for client in moat.get('clients', []) %}

moat-restore-{{ client }}:
  qvm.prefs:
    - name: {{ client }}
    - netvm: {{ fallback }}
    - require:
      - qvm: moat-fallback-running
{%- endfor %}

moat-no-autostart:
  qvm.prefs:
    - name: {{ name }}
    - autostart: false
    - require:
      - cmd: moat-restore-default-netvm
