# -*- coding: utf-8 -*-
# vim: set syntax=yaml ts=2 sw=2 sts=2 et :
#
# Settings for the moat salt formula (/srv/salt/moat).  Every key is
# optional; the values shown commented out are the defaults.  Enable with:
#   sudo qubesctl top.enable moat pillar=true
moat:
  # name: sys-moat
  # label: orange
  # netvm: sys-net
  # memory: 64          # MiB, fixed (maxmem 0)
  # vcpus: 2
  # autostart: true
  # kernelopts: "console=hvc0 quiet"
  # The settings above are written when the qube is created; an existing
  # qube keeps what you set with qvm-prefs.  To have every state.sls moat
  # (and highstate, if the top is enabled) enforce them instead:
  # force: true
  # Make moat the default netvm of every qube that follows the default:
  # default_netvm: true
  # Or move only these qubes to moat:
  # clients:
  #   - work
  #   - personal
  # What moat.rollback moves them back to:
  # fallback: sys-firewall
