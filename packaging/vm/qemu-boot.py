#!/usr/bin/python3
"""Boot a kernel + initramfs under QEMU (TCG) and time what the console says.

    qemu-boot.py --kernel K --initrd I --append CMDLINE --log FILE
                 [--mem 32] [--smp 1] [--ready REGEX] [--ready-count N]
                 [--powerdown] [--timeout 120]

Every console line is written to FILE prefixed with the seconds since QEMU
was started.  When --ready has matched --ready-count lines (or at once if
--ready-count is 0), and --powerdown is given, Ctrl-Alt-Del is sent through
the QEMU monitor.  Results go to stdout as KEY=VALUE lines:
    ready_s=1.234          time of the Nth ready line (or "none")
    powerdown_sent_s=...   when Ctrl-Alt-Del was sent
    qemu_exit_s=...        when QEMU exited (or "timeout")
    qemu_status=0          QEMU's exit status
"""
import argparse
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--kernel', required=True)
    ap.add_argument('--initrd', required=True)
    ap.add_argument('--append', required=True)
    ap.add_argument('--log', required=True)
    ap.add_argument('--mem', default='32')
    ap.add_argument('--smp', default='1')
    ap.add_argument('--ready', default=None)
    ap.add_argument('--ready-count', type=int, default=1)
    ap.add_argument('--powerdown', action='store_true')
    ap.add_argument('--timeout', type=float, default=120)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix='moat-qemu-')
    mon = os.path.join(tmp, 'monitor')
    # RDRAND, as every x86 a qube runs on has: the kernel trusts it to
    # initialise its RNG (CONFIG_RANDOM_TRUST_CPU), which the daemons'
    # getrandom() waits for.
    cmd = ['qemu-system-x86_64', '-accel', 'tcg', '-machine', 'pc',
           '-cpu', 'qemu64,+rdrand',
           '-m', a.mem, '-smp', a.smp, '-nodefaults', '-no-reboot',
           '-display', 'none', '-serial', 'stdio',
           '-monitor', 'unix:%s,server=on,wait=off' % mon,
           '-kernel', a.kernel, '-initrd', a.initrd, '-append', a.append]
    ready_re = re.compile(a.ready) if a.ready else None
    res = {'ready_s': 'none', 'powerdown_sent_s': 'none',
           'qemu_exit_s': 'timeout', 'qemu_status': 'none'}
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    nready = 0
    buf = b''
    sent = False
    pd_at = None
    monsock = None
    with open(a.log, 'w', encoding='utf-8', errors='replace') as log:
        log.write('# %s\n' % ' '.join(cmd))

        def line_out(raw):
            nonlocal nready
            text = raw.decode('utf-8', 'replace').rstrip('\r')
            now = time.monotonic() - t0
            log.write('[%8.3f] %s\n' % (now, text))
            if ready_re and ready_re.search(text):
                nready += 1
                if nready == a.ready_count:
                    res['ready_s'] = '%.3f' % now
        while True:
            now = time.monotonic() - t0
            if now > a.timeout:
                break
            if (a.powerdown and not sent and
                    (ready_re is None or nready >= a.ready_count)):
                # Wait a moment past "ready" (still reading the console) so
                # the memory figure init prints on shutdown is the settled one.
                if pd_at is None:
                    pd_at = now + 0.5
                elif now >= pd_at:
                    try:
                        # Kept open to the end: QEMU may drop a command
                        # whose connection closes before it is read.
                        monsock = socket.socket(socket.AF_UNIX)
                        monsock.connect(mon)
                        monsock.sendall(b'sendkey ctrl-alt-delete\n')
                        sent = True
                        res['powerdown_sent_s'] = '%.3f' % now
                        log.write('[%8.3f] # harness: sent ctrl-alt-delete\n' % now)
                    except OSError as e:
                        log.write('# harness: monitor: %s\n' % e)
                        pd_at = now + 0.2
            r, _, _ = select.select([p.stdout], [], [], 0.2)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
                while b'\n' in buf:
                    raw, buf = buf.split(b'\n', 1)
                    line_out(raw)
        if buf:
            line_out(buf)
        try:
            status = p.wait(timeout=max(0.1, a.timeout - (time.monotonic() - t0)))
            res['qemu_exit_s'] = '%.3f' % (time.monotonic() - t0)
            res['qemu_status'] = str(status)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            p.wait()
            log.write('# harness: timeout, QEMU killed\n')
    if monsock is not None:
        monsock.close()
    try:
        os.unlink(mon)
        os.rmdir(tmp)
    except OSError:
        pass
    for k, v in res.items():
        print('%s=%s' % (k, v))
    return 0


if __name__ == '__main__':
    sys.exit(main())
