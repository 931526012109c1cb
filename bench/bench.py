#!/usr/bin/python3
"""Benchmarks: the series against stock fuse2fs, the kernel's ext4 and the
raw ceiling, interleaved and repeated.  Run through bench/run (make bench).

Every contender gets its own fresh ext4 image, made by the same mkfs.ext4
command from the same source directory (one data file of random bytes), and
every workload is run once per contender per round, contenders in rotating
order (A B C, B C A, ...), for BENCH_REPS rounds.  The table reports medians,
min and max, and the ratio of the median to the kernel's ext4 driver.
"""

import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1 << 20
GiB = 1 << 30
CLK_TCK = os.sysconf('SC_CLK_TCK')

MODES = {
    # image and file sizes in MiB, caps and runtimes in seconds
    'quick': dict(image_mib=512, data_mib=128, write_mib=128, seq_cap=1,
                  rand_runtime=1, reps=3, meta_files=500, meta_size=4096),
    'full': dict(image_mib=4096, data_mib=1024, write_mib=1024, seq_cap=20,
                 rand_runtime=10, reps=5, meta_files=10000, meta_size=4096),
}

MKFS = ['mkfs.ext4', '-q', '-F', '-b', '4096',
        '-E', 'lazy_itable_init=0,lazy_journal_init=0']


def log(msg):
    print('bench: ' + msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, **kw)


def drop_caches():
    os.sync()
    with open('/proc/sys/vm/drop_caches', 'w') as f:
        f.write('3\n')


def syncfs(path):
    """Flush one filesystem only (a global sync would wait for whatever
    else the machine is writing)."""
    subprocess.run(['sync', '-f', path], check=True)


def proc_cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# ---------------------------------------------------------------- contenders
#
# A contender provides: name, label, kind ('kernel', 'raw', 'fuse', 'model'),
# missing() -> None or the reason it cannot run here, setup(workdir, image),
# teardown(), root (the directory workloads use), server_pid (None unless a
# userspace server does the work).  'model' contenders run workloads
# themselves (run_workload); everything else gets fio on root.

class Contender:
    kind = 'fuse'
    server_pid = None
    root = None
    needs_image = True

    def __init__(self, name, label):
        self.name, self.label = name, label

    def missing(self):
        return None

    def alive(self):
        return self.root is not None and os.path.ismount(self.root)

    def describe(self):
        return {'label': self.label, 'kind': self.kind}


class Kernel(Contender):
    kind = 'kernel'

    def __init__(self):
        super().__init__('kernel', "kernel ext4 (loop)")
        self.loop = None

    def missing(self):
        if os.geteuid() != 0:
            return 'needs root for loop mounts'
        return None

    def setup(self, workdir, image):
        self.loop = run(['losetup', '-f', '--show', image]).stdout.strip()
        self.root = os.path.join(workdir, 'mnt-' + self.name)
        os.makedirs(self.root, exist_ok=True)
        run(['mount', '-t', 'ext4', self.loop, self.root])

    def teardown(self):
        if self.root and mounted(self.root):
            umount(self.root)
        if self.loop:
            subprocess.run(['losetup', '-d', self.loop])
            self.loop = None


class Raw(Contender):
    """The ceiling: the same I/O straight to a file on the host filesystem
    that holds the images (same data file, no ext4 image in between)."""
    kind = 'raw'
    needs_image = False

    def __init__(self):
        super().__init__('raw', "raw image file (ceiling)")

    def setup(self, workdir, datafile):
        self.root = os.path.join(workdir, 'raw')
        os.makedirs(self.root, exist_ok=True)
        shutil.copyfile(datafile, os.path.join(self.root, 'data'))

    def alive(self):
        return self.root is not None

    def teardown(self):
        pass


class RawLoop(Raw):
    """The ceiling through a loop block device: the data file attached to a
    loop device, fio on the device.  Write workloads overwrite the device."""
    def __init__(self):
        Contender.__init__(self, 'raw-loop', "raw loop device (ceiling)")
        self.loop = None

    def setup(self, workdir, datafile):
        super().setup(workdir, datafile)
        self.loop = run(['losetup', '-f', '--show',
                         os.path.join(self.root, 'data')]).stdout.strip()

    def teardown(self):
        if self.loop:
            subprocess.run(['losetup', '-d', self.loop])
            self.loop = None


class Fuse(Contender):
    """A FUSE server on a real mount (classic path: data through /dev/fuse)."""

    def __init__(self, name, label, binary, args=()):
        super().__init__(name, label)
        self.binary, self.args = binary, list(args)
        self.proc = None

    def missing(self):
        if not os.access(self.binary, os.X_OK):
            return 'no %s' % os.path.relpath(self.binary, TOP)
        if not os.path.exists('/dev/fuse') or os.geteuid() != 0:
            return 'needs /dev/fuse and root'
        return None

    def describe(self):
        d = super().describe()
        d.update(binary=self.binary, args=self.args)
        return d

    def setup(self, workdir, image):
        self.root = os.path.join(workdir, 'mnt-' + self.name)
        os.makedirs(self.root, exist_ok=True)
        self.logpath = os.path.join(workdir, self.name + '.server.log')
        logf = open(self.logpath, 'w')
        self.proc = subprocess.Popen([self.binary, image, self.root, '-f']
                                     + self.args, stdout=logf,
                                     stderr=subprocess.STDOUT)
        logf.close()
        self.server_pid = self.proc.pid
        for _ in range(200):
            if os.path.ismount(self.root):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        with open(self.logpath) as f:
            out = f.read().strip()
        self.teardown()
        raise RuntimeError('%s did not mount: %s' % (self.name, out[-500:]))

    def teardown(self):
        if self.root and mounted(self.root):
            umount(self.root)
        if self.proc:
            try:
                self.exit_code = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.exit_code = self.proc.wait()
            self.proc = None


class Kmodel(Contender):
    """The iomap path through kmodel, a userspace MODEL of the kernel side:
    kmodel plays the kernel against the unmodified server and moves the
    data itself where the server's mappings point.

    It uses kmodel's streaming mode (--stream SIZE:BS[:direct]: write a
    new file + fsync, drop caches, read it back and verify), which covers
    seq-write + seq-read-cold (buffered) and dio-write + dio-read, and its
    random mode (--randio SIZE:COUNT: COUNT random 4 KiB buffered reads,
    then COUNT random 4 KiB overwrites + fsync, of a new SIZE file) for
    rand-read and rand-write, with the mapping requests they needed per
    I/O; other workloads are n/a until kmodel models them.  The image is attached to a
    loop device: like the kernel, kmodel only accepts block devices as
    iomap backing devices.  Skipped with a note when kmodel is not built or
    the server does not negotiate iomap."""
    kind = 'model'
    # workload -> (stream variant, which half of the stream run)
    STREAM = {'seq-write': ('', 'write'), 'seq-read-cold': ('', 'read'),
              'dio-write': (':direct', 'write'), 'dio-read': (':direct', 'read')}
    # workload -> phase of the randio run
    RANDIO = {'rand-read': 'read', 'rand-write': 'write'}

    def __init__(self, name, label, server, args=('-f',), kmodel_args=()):
        super().__init__(name, label)
        self.server, self.args = server, list(args)
        # fuse4fs mounts with root_nodeid=2 where iomap is: kmodel must know
        self.kmodel_args = list(kmodel_args)
        self.kmodel = os.environ.get('KMODEL') or os.path.join(
            TOP, 'kmodel', 'kmodel')
        self.loop = None
        self.stash = {}

    def missing(self):
        if not os.access(self.kmodel, os.X_OK):
            return 'kmodel not built (no %s)' % os.path.relpath(self.kmodel, TOP)
        if not os.access(self.server, os.X_OK):
            return 'no %s' % os.path.relpath(self.server, TOP)
        return None

    def describe(self):
        d = super().describe()
        d.update(kmodel=self.kmodel, server=self.server)
        return d

    def setup(self, workdir, image):
        self.image, self.work = image, workdir
        self.loop = run(['losetup', '-f', '--show', image]).stdout.strip()
        self.root = self.loop
        try:
            self.stream('1M')
        except RuntimeError as e:
            self.teardown()
            if 'iomap was not negotiated' in str(e):
                raise Skip('%s does not negotiate iomap with kmodel'
                           % os.path.relpath(self.server, TOP))
            raise

    def alive(self):
        return self.loop is not None

    def teardown(self):
        if self.loop:
            subprocess.run(['losetup', '-d', self.loop])
            self.loop = None

    def stream(self, arg, timeout=600, wrapper=()):
        logpath = os.path.join(self.work, self.name + '.server.log')
        cpupath = os.path.join(self.work, self.name + '.cpu')
        # GNU time between kmodel and the server reports the server's CPU
        # time (its rusage) when the server exits.
        timecmd = ['/usr/bin/time', '-o', cpupath, '-f', '%U %S'] \
            if os.access('/usr/bin/time', os.X_OK) else []
        cmd = [self.kmodel, '--iomap', '--expect-iomap', '--stats'] + \
            self.kmodel_args + \
            ['--server-log', logpath, '--stream', arg, '--'] + timecmd + \
            list(wrapper) + [self.server, self.loop, '@FD@'] + self.args
        r = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(kmodel_errors(r.stdout))
        res = parse_kmodel(r.stdout)
        st = res['stats']
        if timecmd and st.get('device_bytes'):
            with open(cpupath) as f:
                cpu = sum(float(x) for x in f.read().split()[-2:])
            st['server_cpu_per_gib'] = cpu / (st['device_bytes'] / GiB)
        return res

    def callgrind(self, work):
        """Instructions the server executes per mapping request: a figure
        that does not depend on machine noise.  Two stream runs of different
        sizes, each on a fresh fixed image (fixed UUID, hash seed and time),
        the server under callgrind; the difference of the instruction totals
        over the difference of the IOMAP_BEGIN counts leaves start-up and
        mount out.  (A run on an image that an earlier run left a stream
        file on would count freeing that file's blocks too.)"""
        out = {}
        img = os.path.join(work, self.name + '-callgrind.img')
        env = dict(os.environ, E2FSPROGS_FAKE_TIME='1700000000')
        for variant in ('', ':direct'):
            pts = []
            for mib in (4, 16):
                subprocess.run(MKFS + ['-U', FIXED_UUID, '-E',
                                       'hash_seed=' + FIXED_UUID, img, '256M'],
                               env=env, check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
                loop = run(['losetup', '-f', '--show', img]).stdout.strip()
                try:
                    cg = os.path.join(work, 'callgrind.out')
                    cmd = [self.kmodel, '--iomap', '--expect-iomap'] + \
                        self.kmodel_args + [
                           '--server-log', os.path.join(work, 'callgrind.log'),
                           '--stream', '%dM:1M%s' % (mib, variant), '--',
                           'valgrind', '--tool=callgrind',
                           '--callgrind-out-file=' + cg,
                           self.server, loop, '@FD@'] + self.args
                    r = subprocess.run(cmd, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True,
                                       timeout=600)
                finally:
                    subprocess.run(['losetup', '-d', loop])
                if r.returncode != 0:
                    raise RuntimeError('kmodel under callgrind: ' + kmodel_errors(r.stdout))
                st = parse_kmodel(r.stdout)['stats']
                with open(cg) as f:
                    ir = next(int(l.split()[1]) for l in f
                              if l.startswith('totals:'))
                pts.append((st.get('map_requests', 0), ir))
            dn = pts[1][0] - pts[0][0]
            out['buffered' if not variant else 'direct'] = {
                'runs': pts,
                'instructions_per_map': (pts[1][1] - pts[0][1]) / dn
                if dn > 0 else None}
        os.unlink(img)
        return out

    def profile(self, wl, p, data):
        """perf record of the server for one stream run (the whole run:
        the write and the read half)."""
        if wl.name not in self.STREAM:
            return False
        size = wl.size(p) // MiB
        self.stream('%dM:1M%s' % (size, self.STREAM[wl.name][0]),
                    wrapper=['perf', 'record', '-g', '-q', '-o', data, '--'])
        return True

    def randio(self, p, timeout):
        """One --randio run: 4096 random 4 KiB I/Os per second of
        rand_runtime, on a file of the data file's size."""
        count = 4096 * p['rand_runtime']
        cmd = [self.kmodel, '--iomap', '--expect-iomap', '--stats'] + \
            self.kmodel_args + \
            ['--server-log', os.path.join(self.work, self.name + '.server.log'),
             '--randio', '%dM:%d' % (p['data_mib'], count), '--',
             self.server, self.loop, '@FD@'] + self.args
        r = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(kmodel_errors(r.stdout))
        return parse_randio(r.stdout)

    def run_workload(self, wl, p, rep):
        if wl.name in self.RANDIO:
            key = (rep, 'randio')
            if wl.name == 'rand-read' or key not in self.stash:
                self.stash[key] = self.randio(p, wl.runtime(p) * 60 + 300)
            return dict(self.stash[key][self.RANDIO[wl.name]])
        if wl.name not in self.STREAM:
            raise NotApplicable("not in kmodel's streaming mode")
        variant, half = self.STREAM[wl.name]
        key = (rep, variant)
        if half == 'write' or key not in self.stash:
            size = wl.size(p) // MiB
            self.stash[key] = self.stream('%dM:1M%s' % (size, variant),
                                          timeout=wl.runtime(p) * 20 + 300)
        res = dict(self.stash[key][half])
        res.update(self.stash[key]['stats'])
        return res


def parse_randio(out):
    """The phase lines of kmodel --randio (km_run_randio in kmodel/run.c):
    per phase (read, write) bytes, seconds and the mapping requests."""
    import re
    res = {}
    for line in out.splitlines():
        m = re.match(r'kmodel: randio: (read|write) (\d+) x 4 KiB.* in '
                     r'([0-9.]+) s: .*; (\d+) mapping requests, '
                     r'([0-9.]+) per I/O, (\d+) from the cache; '
                     r'(\d+) of (\d+) mappings touched', line)
        if m:
            n, req, touched = int(m.group(2)), int(m.group(4)), int(m.group(7))
            res[m.group(1)] = {
                'bytes': n * 4096, 'seconds': float(m.group(3)),
                'map_requests_phase': req, 'map_per_io': float(m.group(5)),
                'maps_touched': touched,
                'map_per_touched': req / max(1, touched)}
    if len(res) != 2:
        raise RuntimeError('kmodel printed no randio results')
    return res


def kmodel_errors(out):
    lines = [l for l in out.splitlines() if l.startswith('kmodel:')]
    return ' / '.join(lines[-3:])


FIXED_UUID = '0e2f5e2f-105a-4d3a-9c1b-000000000001'


def parse_kmodel(out):
    """The stream lines and statistics kmodel prints (kmodel/run.c and
    km_print_stats in kmodel/wire.c)."""
    import re
    res = {'stats': {}}
    for line in out.splitlines():
        m = re.match(r'kmodel: stream: wrote (\d+) MiB .*: ([0-9.]+) MiB/s', line)
        if m:
            mib, rate = int(m.group(1)), float(m.group(2))
            res['write'] = {'bytes': mib * MiB, 'seconds': mib / rate}
        m = re.match(r'kmodel: stream: read (\d+) MiB .*: ([0-9.]+) MiB/s', line)
        if m:
            mib, rate = int(m.group(1)), float(m.group(2))
            res['read'] = {'bytes': mib * MiB, 'seconds': mib / rate}
        m = re.match(r'\s+IOMAP_BEGIN\s+(\d+)\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)'
                     r'(?:\s+([0-9.]+))?', line)
        if m:
            res['stats']['map_requests'] = int(m.group(1))
            res['stats']['map_mean_us'] = float(m.group(4))
            if m.group(5):
                res['stats']['map_p99_us'] = float(m.group(5))
        m = re.match(r'\s+device I/O by kmodel: read (\d+) bytes, written (\d+)',
                     line)
        if m:
            res['stats']['device_bytes'] = int(m.group(1)) + int(m.group(2))
        m = re.match(r'\s+file data through FUSE_READ/WRITE: read (\d+) bytes, '
                     r'written (\d+)', line)
        if m:
            res['stats']['fuse_data_bytes'] = int(m.group(1)) + int(m.group(2))
        m = re.match(r'\s+mappings: (\d+) from IOMAP_BEGIN, (\d+) from the cache',
                     line)
        if m:
            res['stats']['map_cache_hits'] = int(m.group(2))
    if 'write' not in res or 'read' not in res:
        raise RuntimeError('kmodel printed no stream results')
    st = res['stats']
    if st.get('device_bytes') and 'map_requests' in st:
        st['map_requests_per_gib'] = st['map_requests'] / (st['device_bytes'] / GiB)
    return res


class Skip(Exception):
    """The contender cannot run here; the message says why."""


class NotApplicable(Exception):
    """The workload does not apply to this contender."""


def contenders():
    b = lambda *p: os.path.join(TOP, 'build', *p)
    env = os.environ.get
    # The series' servers can be swapped for another build (a work tree's,
    # say) and given extra arguments, e.g. BENCH_FUSE2FS_ARGS="-o foo".
    fuse2fs = env('BENCH_FUSE2FS') or b('iomap', 'misc', 'fuse2fs')
    fuse4fs = env('BENCH_FUSE4FS') or b('iomap', 'fuse4fs', 'fuse4fs')
    args2 = shlex.split(env('BENCH_FUSE2FS_ARGS', ''))
    args4 = shlex.split(env('BENCH_FUSE4FS_ARGS', ''))
    return [
        Kernel(),
        Raw(),
        RawLoop(),
        Fuse('deb-1.47.0', "fuse2fs 1.47.0 (Debian)", '/usr/bin/fuse2fs'),
        Fuse('pristine-1.47.4', "fuse2fs 1.47.4 (pristine)",
             b('pristine', 'misc', 'fuse2fs')),
        # issue 12's workaround for 1.47.4's cache regression
        Fuse('pristine-1.47.4-32k', "fuse2fs 1.47.4 -o cache_size=32K",
             b('pristine', 'misc', 'fuse2fs'), ['-o', 'cache_size=32K']),
        Fuse('fuse2fs', "fuse2fs (series, classic)", fuse2fs, args2),
        Fuse('fuse4fs', "fuse4fs (series, classic)", fuse4fs, args4),
        Kmodel('fuse2fs-kmodel', "fuse2fs iomap [kmodel: model]", fuse2fs,
               ['-f'] + args2),
        Kmodel('fuse4fs-kmodel', "fuse4fs iomap [kmodel: model]", fuse4fs,
               ['-f'] + args4, ['--root-nodeid', '2']),
        # the same without the kernel's mapping cache (noiomap_cache)
        Kmodel('fuse2fs-kmodel-nocache',
               "fuse2fs iomap, noiomap_cache [kmodel: model]", fuse2fs,
               ['-f', '-o', 'noiomap_cache'] + args2),
        Kmodel('fuse4fs-kmodel-nocache',
               "fuse4fs iomap, noiomap_cache [kmodel: model]", fuse4fs,
               ['-f', '-o', 'noiomap_cache'] + args4, ['--root-nodeid', '2']),
    ] + extra_contenders()


def extra_contenders():
    """BENCH_EXTRA='NAME=SERVER [ARGS...];...' adds FUSE servers to the run
    (all selected by default): an A/B comparison of two builds measured in
    the same interleaved rounds."""
    out = []
    for item in os.environ.get('BENCH_EXTRA', '').split(';'):
        if not item.strip():
            continue
        name, _, cmd = item.partition('=')
        argv = shlex.split(cmd)
        if not name.strip() or not argv:
            sys.exit("bench: BENCH_EXTRA entries are NAME=SERVER [ARGS...]")
        out.append(Fuse(name.strip(), '%s (%s)' % (name.strip(), ' '.join(
            [os.path.basename(argv[0])] + argv[1:])), argv[0], argv[1:]))
    return out


# Contenders run when BENCH_CONTENDERS is not set (raw-loop is a second
# ceiling, only worth its time in full mode).
DEFAULT = {
    'quick': ['kernel', 'raw', 'deb-1.47.0', 'pristine-1.47.4', 'fuse2fs',
              'fuse4fs', 'fuse2fs-kmodel', 'fuse4fs-kmodel',
              'fuse2fs-kmodel-nocache', 'fuse4fs-kmodel-nocache'],
    'full': ['kernel', 'raw', 'raw-loop', 'deb-1.47.0', 'pristine-1.47.4',
             'fuse2fs', 'fuse4fs', 'fuse2fs-kmodel', 'fuse4fs-kmodel',
             'fuse2fs-kmodel-nocache', 'fuse4fs-kmodel-nocache'],
}


def mounted(path):
    """Listed in the mount table (a FUSE mount whose server died is still
    there, but os.path.ismount cannot stat it)."""
    with open('/proc/self/mounts') as f:
        return any(l.split()[1] == path for l in f)


def umount(path):
    for _ in range(50):
        if subprocess.run(['umount', path], stderr=subprocess.DEVNULL).returncode == 0:
            return
        if not mounted(path):
            return
        time.sleep(0.1)
    subprocess.run(['umount', '-l', path])


# ----------------------------------------------------------------- workloads

class Workload:
    """One fio job (or the metadata helper) run on a contender's root."""
    unit = 'MiB/s'
    bs = MiB
    cold = False        # drop caches before
    rand = False
    fio = {}
    target = 'data'     # file in root; 'new' files are removed first
    new = False
    follows = None      # run right after this workload, on what it read
    per_gib = True      # server CPU reported per GiB moved (else per op)

    def __init__(self, name, label, **kw):
        self.name, self.label = name, label
        self.__dict__.update(kw)

    def size(self, p):
        return (p['write_mib'] if self.new else p['data_mib']) * MiB

    def runtime(self, p):
        return p['rand_runtime'] if self.rand else p['seq_cap']

    def applies(self, c):
        return True

    def fio_args(self, c, p, size=None):
        if isinstance(c, RawLoop):
            filename = c.loop
        else:
            filename = os.path.join(c.root, self.target)
        a = ['--name=' + self.name, '--filename=' + filename,
             '--ioengine=psync', '--thread', '--bs=%d' % self.bs,
             '--size=%d' % (size or self.size(p)),
             '--runtime=%d' % self.runtime(p),
             '--invalidate=0', '--output-format=json']
        if self.rand:
            a.append('--time_based=1')
        for k, v in self.fio.items():
            a.append('--%s=%s' % (k, v))
        return a

    def prepare(self, c, p):
        if self.new and not isinstance(c, RawLoop):
            path = os.path.join(c.root, self.target)
            if os.path.exists(path):
                os.unlink(path)
        if self.cold:
            drop_caches()
        else:
            syncfs(c.loop if isinstance(c, RawLoop) else c.root)

    def measure(self, c, p, tmp, prev=None):
        size = None
        if self.follows:
            # Warm: read again exactly what the cold run read (it may have
            # been cut short by the time cap).
            size = prev['bytes'] // self.bs * self.bs
        return self.fio_run(c, p, tmp, size)

    def fio_run(self, c, p, tmp, size=None):
        out = os.path.join(tmp, 'fio.json')
        timeout = self.runtime(p) * 10 + 120
        r = subprocess.run(['fio', '--output=' + out]
                           + self.fio_args(c, p, size),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError('fio: ' + (r.stderr or r.stdout).strip()[-500:])
        with open(out) as f:
            job = json.load(f)['jobs'][0]
        if job.get('error'):
            raise RuntimeError('fio error %d' % job['error'])
        d = job['write'] if job['write']['io_bytes'] else job['read']
        nbytes, ms = d['io_bytes'], d['runtime']
        if not nbytes or not ms:
            raise RuntimeError('fio moved no data')
        return {'bytes': nbytes, 'seconds': ms / 1000.0}

    def value(self, res):
        return res['bytes'] / res['seconds'] / MiB


class Meta(Workload):
    unit = 'ops/s'
    per_gib = False

    def applies(self, c):
        return c.kind not in ('raw',)

    def size(self, p):
        return p['meta_size']

    def runtime(self, p):
        return p['rand_runtime']

    def prepare(self, c, p):
        self.dir = os.path.join(c.root, 'meta')
        if os.path.exists(self.dir):
            shutil.rmtree(self.dir)
        os.mkdir(self.dir)
        syncfs(c.root)

    def measure(self, c, p, tmp, prev=None):
        r = subprocess.run([os.path.join(TOP, 'build', 'bench', 'meta'),
                            self.dir, str(p['meta_files']), str(p['meta_size'])],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip()[-500:])
        m = json.loads(r.stdout)
        os.rmdir(self.dir)
        secs = m['create_s'] + m['stat_s'] + m['unlink_s']
        return {'ops': 3 * m['files'], 'seconds': secs, 'phases': m}

    def value(self, res):
        return res['ops'] / res['seconds']


def workloads():
    W = Workload
    return [
        W('seq-write', "seq write 1M buffered +fsync", new=True, target='w',
          fio={'rw': 'write', 'end_fsync': 1}),
        W('seq-read-cold', "seq read 1M cold", cold=True,
          fio={'rw': 'read'}),
        W('seq-read-warm', "seq read 1M warm", follows='seq-read-cold',
          fio={'rw': 'read'}),
        W('dio-write', "seq write 1M O_DIRECT", new=True, target='d',
          fio={'rw': 'write', 'direct': 1}),
        W('dio-read', "seq read 1M O_DIRECT", cold=True,
          fio={'rw': 'read', 'direct': 1}),
        W('rand-read', "rand read 4K buffered", cold=True, rand=True,
          bs=4096, fio={'rw': 'randread'}),
        W('rand-write', "rand write 4K buffered +fsync", rand=True, bs=4096,
          fio={'rw': 'randwrite', 'end_fsync': 1}),
        W('rand-read-dio', "rand read 4K O_DIRECT", cold=True, rand=True,
          bs=4096, fio={'rw': 'randread', 'direct': 1}),
        W('rand-write-dio', "rand write 4K O_DIRECT", rand=True, bs=4096,
          fio={'rw': 'randwrite', 'direct': 1}),
        Meta('meta', "create+stat+unlink 4K files"),
    ]


# ------------------------------------------------------------------- machine

def machine():
    cpu = 'unknown'
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    with open('/proc/meminfo') as f:
        mem = int(f.readline().split()[1]) // 1024
    fs = run(['findmnt', '-n', '-o', 'FSTYPE,SOURCE', '-T',
              tempfile.gettempdir()]).stdout.split()
    return {'nproc': os.cpu_count(), 'kernel': platform.release(),
            'cpu': cpu, 'mem_mib': mem, 'host': platform.node(),
            'tmp_fs': ' '.join(fs), 'loadavg': os.getloadavg()}


def git_state():
    """What was measured: this repository's commit and the series trees'
    (patches applied on top of the pristine tag)."""
    g = {}
    for k, d in (('repo', TOP),
                 ('e2fsprogs', os.path.join(TOP, 'build', 'src', 'e2fsprogs')),
                 ('libfuse', os.path.join(TOP, 'build', 'src', 'libfuse'))):
        r = subprocess.run(['git', '-C', d, 'describe', '--always', '--dirty'],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
        if r.returncode:
            continue
        g[k] = r.stdout.strip()
        n = subprocess.run(['git', '-C', d, 'rev-list', '--count', 'upstream..HEAD'],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
        if k != 'repo' and n.returncode == 0:
            g[k] += ' (%s patches)' % n.stdout.strip()
    return g


def versions():
    v = {}
    for k, cmd in (('fio', ['fio', '--version']),
                   ('mkfs.ext4', ['mkfs.ext4', '-V'])):
        r = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        v[k] = r.stdout.strip().splitlines()[0] if r.stdout else '?'
    return v


# -------------------------------------------------------------------- report

def summarize(results, names, wls):
    s = {}
    for wl in wls:
        s[wl.name] = {}
        for n in names:
            vals = [r['value'] for r in results
                    if r['workload'] == wl.name and r['contender'] == n
                    and 'value' in r]
            errs = [r['error'] for r in results
                    if r['workload'] == wl.name and r['contender'] == n
                    and 'error' in r]
            cpu = [r['server_cpu'] for r in results
                   if r['workload'] == wl.name and r['contender'] == n
                   and r.get('server_cpu') is not None]
            if not vals:
                s[wl.name][n] = {'error': errs[0]} if errs else {}
                continue
            e = {'median': statistics.median(vals), 'min': min(vals),
                 'max': max(vals), 'n': len(vals), 'unit': wl.unit}
            if errs:
                e['errors'] = len(errs)
            if cpu:
                e['server_cpu_median'] = statistics.median(cpu)
                e['server_cpu_unit'] = 'cpu-s/GiB' if wl.per_gib else 'cpu-us/op'
            for k in IOMAP_STATS + MAPIO_STATS:
                v = [r[k] for r in results if r['workload'] == wl.name
                     and r['contender'] == n and r.get(k) is not None]
                if v:
                    e[k] = statistics.median(v)
            s[wl.name][n] = e
        k = s[wl.name].get('kernel', {}).get('median')
        for n in names:
            e = s[wl.name][n]
            if k and 'median' in e:
                e['ratio'] = e['median'] / k
    return s


# Issue 12's targets: (text, workload, reference contender, minimum ratio),
# and the server CPU per GiB written.
TARGETS = [
    ('streaming buffered write >= 0.8x kernel', 'seq-write', 'kernel', 0.8),
    ('O_DIRECT 1 MiB write >= 0.5x kernel', 'dio-write', 'kernel', 0.5),
    ('O_DIRECT 1 MiB read >= 0.5x kernel', 'dio-read', 'kernel', 0.5),
    ('random 4 KiB buffered write >= 0.5x kernel', 'rand-write', 'kernel', 0.5),
    ('random 4 KiB buffered read >= 1.47.0', 'rand-read', 'deb-1.47.0', 1.0),
    ('random 4 KiB O_DIRECT read >= 1.47.0', 'rand-read-dio', 'deb-1.47.0', 1.0),
]
CPU_TARGET = 1.5


def targets(s, names):
    """[(text, {contender: (measured ratio or figure, met)})] for the
    targets this run can judge."""
    rows = []
    for text, w, ref, want in TARGETS:
        r = s.get(w, {}).get(ref, {}).get('median')
        if not r or not names:
            continue
        cells = {}
        for n in names:
            m = s[w].get(n, {}).get('median')
            cells[n] = (m / r, m / r >= want) if m else (None, False)
        rows.append(('%s (ratio)' % text, cells))
    cpu = {n: s.get('seq-write', {}).get(n, {}).get('server_cpu_median')
           for n in names}
    if names and any(v is not None for v in cpu.values()):
        rows.append(('server CPU <= %.1f s per GiB written (streaming write)'
                     % CPU_TARGET,
                     {n: (v, v is not None and v <= CPU_TARGET)
                      for n, v in cpu.items()}))
    return rows


# Server-side figures of the iomap path, from kmodel's statistics.
IOMAP_STATS = ('map_requests_per_gib', 'map_mean_us', 'map_p99_us')
# Mapping requests of kmodel's random 4 KiB runs: per I/O, per mapping
# (extent) of the file touched, and how many mappings were touched.
MAPIO_STATS = ('map_per_io', 'map_per_touched', 'maps_touched')


def fmt(v):
    if v >= 100:
        return '%.0f' % v
    if v >= 10:
        return '%.1f' % v
    return '%.2f' % v


def table(doc, cs, wls):
    s = doc['summary']
    names = [c.name for c in cs]
    labels = {c.name: c.label for c in cs}
    m = doc['machine']
    out = []
    out.append('e2fsprogs-iomap benchmarks, %s, mode %s, %d rounds interleaved'
               % (doc['date'], doc['mode'], doc['params']['reps']))
    out.append('machine: %d CPUs (%s), kernel %s, %d MiB RAM, images on %s; '
               'load average %.2f at start, %.2f at the end'
               % (m['nproc'], m['cpu'], m['kernel'], m['mem_mib'], m['tmp_fs'],
                  m['loadavg'][0], m.get('loadavg_end', [float('nan')])[0]))
    out.append('sizes: image %d MiB, data file %d MiB, writes up to %d MiB '
               '(capped at %d s), random runs %d s, metadata %d files of %d B'
               % tuple(doc['params'][k] for k in
                       ('image_mib', 'data_mib', 'write_mib', 'seq_cap',
                        'rand_runtime', 'meta_files', 'meta_size')))
    out.append('images: %s; features: %s' % (doc['mkfs'], doc.get('features', '?')))
    if doc['git']:
        out.append('trees at run time: ' + ', '.join('%s %s' % kv for kv in sorted(doc['git'].items())))
    out.append('')
    out.append('Median (ratio to kernel ext4); MiB/s, metadata in ops/s. '
               'Columns marked [kmodel: model] are a userspace MODEL of the '
               'kernel, not a real kernel mount.')
    out.append('')
    hdr = '| workload | ' + ' | '.join(labels[n] for n in names) + ' |'
    out.append(hdr)
    out.append('|---|' + '---|' * len(names))
    for wl in wls:
        cells = []
        for n in names:
            e = s[wl.name].get(n, {})
            if 'median' in e:
                c = fmt(e['median'])
                if 'ratio' in e and n != 'kernel':
                    c += ' (%.2fx)' % e['ratio']
                if e.get('errors'):
                    c += ' !%d failed' % e['errors']
            elif 'error' in e:
                c = 'FAIL'
            else:
                c = 'n/a'
            cells.append(c)
        out.append('| %s | %s |' % (wl.label, ' | '.join(cells)))
    out.append('')
    out.append('Min-max over the rounds:')
    out.append('')
    out.append(hdr)
    out.append('|---|' + '---|' * len(names))
    for wl in wls:
        cells = []
        for n in names:
            e = s[wl.name].get(n, {})
            cells.append('%s-%s' % (fmt(e['min']), fmt(e['max']))
                         if 'median' in e else '')
        out.append('| %s | %s |' % (wl.label, ' | '.join(cells)))
    def having(key):
        """The contenders with a value of key in some workload"""
        return [n for n in names if any(key in s[w.name].get(n, {}) for w in wls)]

    fuse = having('server_cpu_median')
    if fuse:
        out.append('')
        out.append('Server CPU (utime+stime of the server process, median): '
                   'seconds per GiB moved; metadata in microseconds per op. '
                   'Through kmodel: the whole stream run (write + read, start '
                   'and mount included) per GiB of device I/O.')
        out.append('')
        out.append('| workload | ' + ' | '.join(labels[n] for n in fuse) + ' |')
        out.append('|---|' + '---|' * len(fuse))
        for wl in wls:
            cells = [fmt(s[wl.name][n]['server_cpu_median'])
                     if 'server_cpu_median' in s[wl.name].get(n, {}) else ''
                     for n in fuse]
            out.append('| %s | %s |' % (wl.label, ' | '.join(cells)))
    model = having('map_requests_per_gib')
    if model:
        out.append('')
        out.append('iomap server side, through kmodel (a model of the kernel): '
                   'IOMAP_BEGIN requests per GiB of device I/O, mean time per '
                   'request in microseconds (kmodel statistics of the whole '
                   'stream run, write + read).')
        out.append('')
        out.append('| workload | ' + ' | '.join(
            '%s %s' % (labels[n], h) for n in model
            for h in ('maps/GiB', 'mean us', 'p99 us')) + ' |')
        out.append('|---|' + '---|' * (3 * len(model)))
        for wl in wls:
            cells = []
            for n in model:
                e = s[wl.name].get(n, {})
                cells += [fmt(e[k]) if k in e else '' for k in IOMAP_STATS]
            if any(cells):
                out.append('| %s | %s |' % (wl.label, ' | '.join(cells)))
    mapio = having('map_per_io')
    if mapio:
        out.append('')
        out.append('Mapping requests (IOMAP_BEGIN) per I/O of the random 4 KiB '
                   'runs through kmodel (a model of the kernel), and per mapping '
                   '(extent) of the file that the I/Os touched: with the '
                   "kernel's mapping cache a server that pushes its mappings "
                   'needs about one per extent touched, without it one per '
                   'I/O or more (writes also need mappings at writeback).')
        out.append('')
        cols = [w for w in wls
                if any('map_per_io' in s[w.name].get(n, {}) for n in mapio)]
        out.append('| contender | ' + ' | '.join(
            '%s %s' % (w.name, h) for w in cols
            for h in ('req/IO', 'req/extent', 'extents')) + ' |')
        out.append('|---|' + '---|' * (3 * len(cols)))
        for n in mapio:
            cells = []
            for w in cols:
                e = s[w.name].get(n, {})
                cells += ['%.4g' % e[k] if k in e else '' for k in MAPIO_STATS]
            out.append('| %s | %s |' % (labels[n], ' | '.join(cells)))
    tg = targets(s, [n for n in ('fuse2fs', 'fuse4fs') if n in names])
    if tg:
        out.append('')
        out.append("Issue 12's targets for the series' servers on the classic "
                   'path (medians of this run):')
        out.append('')
        out.append('| target | ' + ' | '.join(labels[n] for n in tg[0][1]) + ' |')
        out.append('|---|' + '---|' * len(tg[0][1]))
        for what, cells in tg:
            out.append('| %s | %s |' % (what, ' | '.join(
                '%s %s' % (fmt(v), 'met' if ok else 'NOT met') if v is not None
                else 'n/a' for v, ok in cells.values())))
    cg = [(labels[n], doc['contenders'][n]['callgrind']) for n in names
          if 'callgrind' in doc['contenders'][n]]
    if cg:
        out.append('')
        out.append('Server instructions per mapping request (callgrind, fixed '
                   'image; deterministic, independent of machine noise; '
                   'difference of a 16 MiB and a 4 MiB stream run):')
        out.append('')
        for label, d in cg:
            if 'error' in d:
                out.append('- %s: failed: %s' % (label, d['error'][-200:]))
                continue
            out.append('- %s: %s' % (label, ', '.join(
                '%s %s' % (k, '%.0f' % v['instructions_per_map']
                           if v['instructions_per_map'] else 'n/a')
                for k, v in sorted(d.items()))))
    notes = [(c.label, doc['contenders'][c.name]['skipped'])
             for c in doc['_all'] if doc['contenders'][c.name].get('skipped')]
    errors = [(labels[n], w.label, s[w.name][n]['error'])
              for w in wls for n in names if 'error' in s[w.name].get(n, {})]
    if notes or errors:
        out.append('')
    for label, why in notes:
        out.append('skipped: %s: %s' % (label, why))
    for label, w, why in errors:
        out.append('failed: %s, %s: %s' % (label, w, why.splitlines()[-1][:200]))
    return '\n'.join(out)


def chart(doc, cs, wls, path):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        log('no matplotlib (python3-matplotlib): no chart')
        return False
    s = doc['summary']
    names = [c.name for c in cs if c.name != 'kernel']
    kinds = {c.name: c.kind for c in cs}
    labels = {c.name: c.label for c in cs}
    rows = [w for w in wls if s[w.name].get('kernel', {}).get('median')]
    fig, ax = plt.subplots(figsize=(max(10, 1.3 * len(rows) * max(1, len(names)) / 3), 6.5))
    width = 0.8 / max(1, len(names))
    cmap = plt.get_cmap('tab10')
    for i, n in enumerate(names):
        xs, ys, lo, hi = [], [], [], []
        for j, w in enumerate(rows):
            e = s[w.name].get(n, {})
            k = s[w.name]['kernel']['median']
            if 'median' not in e:
                continue
            xs.append(j - 0.4 + width * (i + 0.5))
            ys.append(e['median'] / k)
            lo.append((e['median'] - e['min']) / k)
            hi.append((e['max'] - e['median']) / k)
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=labels[n],
               color=cmap(i % 10), hatch='//' if kinds[n] == 'model' else None,
               edgecolor='black', linewidth=0.3)
    ax.axhline(1.0, color='black', linewidth=1)
    ax.set_yscale('log')
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(['%s\n(kernel %s %s)' % (w.label, fmt(s[w.name]['kernel']['median']),
                                                w.unit) for w in rows],
                       rotation=30, ha='right', fontsize=8)
    ax.set_ylabel('median / kernel ext4 median (log); bars: min-max')
    m = doc['machine']
    ax.set_title('e2fsprogs-iomap bench %s (%s, %d rounds) - %d CPUs, %s, '
                 'load %.1f at start\n'
                 'kernel ext4 on loop = 1.0; hatched = through kmodel '
                 '(a model of the kernel)'
                 % (doc['date'][:16], doc['mode'], doc['params']['reps'],
                    m['nproc'], m['kernel'], m['loadavg'][0]), fontsize=9)
    ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis='y', which='both', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------- main

def measure(c, wl, p, work, prev, rep):
    """One measurement of one workload on one contender."""
    if not c.alive():
        raise RuntimeError('mount is gone (server died?)')
    if c.kind == 'model':
        return c.run_workload(wl, p, rep)
    if wl.follows and not prev:
        # What it follows is not part of this run (or failed): do that
        # first, untimed.
        wl.prepare(c, p)
        prev = wl.fio_run(c, p, work)
    elif not wl.follows:
        wl.prepare(c, p)
    cpu0 = proc_cpu_seconds(c.server_pid) if c.server_pid else None
    res = wl.measure(c, p, work, prev)
    if cpu0 is not None:
        cpu1 = proc_cpu_seconds(c.server_pid)
        if cpu1 is not None:
            res['server_cpu_s'] = cpu1 - cpu0
    return res


def profile(cs, wls, p, work, outdir):
    """One extra, unmeasured run of each workload on each server with
    perf recording the server; perf report --stdio goes to
    OUTDIR/perf-CONTENDER-WORKLOAD.txt."""
    done = {}
    for c in cs:
        for wl in wls:
            if not wl.applies(c) or c.kind not in ('fuse', 'model'):
                continue
            data = os.path.join(work, 'perf.data')
            txt = os.path.join(outdir, 'perf-%s-%s.txt' % (c.name, wl.name))
            log('perf: %s %s' % (c.name, wl.name))
            try:
                if c.kind == 'model':
                    if not c.profile(wl, p, data):
                        continue
                else:
                    wl.prepare(c, p)
                    rec = subprocess.Popen(['perf', 'record', '-g', '-q', '-o',
                                            data, '-p', str(c.server_pid)],
                                           stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL)
                    time.sleep(0.5)     # perf attaches
                    try:
                        wl.measure(c, p, work, wl.fio_run(c, p, work)
                                   if wl.follows else None)
                    finally:
                        rec.send_signal(signal.SIGINT)
                        rec.wait(timeout=60)
                with open(txt, 'w') as f:
                    subprocess.run(['perf', 'report', '--stdio', '-i', data,
                                    '--no-children', '--percent-limit', '1',
                                    '--sort', 'dso,symbol', '-g', 'none'],
                                   stdout=f, stderr=subprocess.DEVNULL,
                                   timeout=300)
                done['%s/%s' % (c.name, wl.name)] = os.path.basename(txt)
            except Exception as e:
                log('perf %s %s: %s' % (c.name, wl.name, e))
    return done


def main():
    mode = os.environ.get('BENCH_MODE', 'quick')
    if mode not in MODES:
        sys.exit('bench: BENCH_MODE must be one of %s' % ', '.join(MODES))
    p = dict(MODES[mode])
    for k in p:
        env = os.environ.get('BENCH_' + k.upper())
        if env:
            p[k] = int(env)
    if p['data_mib'] + p['write_mib'] * 2 + 64 > p['image_mib']:
        sys.exit('bench: image too small for the data and write files')

    allc = contenders()
    want = os.environ.get('BENCH_CONTENDERS')
    want = want.split(',') if want else \
        DEFAULT[mode] + [c.name for c in extra_contenders()]
    unknown = set(want) - {c.name for c in allc}
    if unknown:
        sys.exit('bench: unknown contenders %s (known: %s)' % (
            ', '.join(sorted(unknown)), ', '.join(c.name for c in allc)))
    allwl = workloads()
    wantw = os.environ.get('BENCH_WORKLOADS')
    wls = [w for w in allwl if not wantw or w.name in wantw.split(',')]

    stamp = datetime.datetime.now(datetime.timezone.utc)
    outdir = os.environ.get('BENCH_OUT') or os.path.join(
        TOP, 'build', 'bench', stamp.strftime('%Y%m%dT%H%M%SZ') + '-' + mode)
    os.makedirs(outdir, exist_ok=True)

    doc = {'date': stamp.strftime('%Y-%m-%d %H:%M:%S UTC'), 'mode': mode,
           'params': p, 'machine': machine(), 'versions': versions(),
           'git': git_state(),
           'mkfs': ' '.join(MKFS + ['-d', 'SRC', 'IMAGE', '%dM' % p['image_mib']]),
           'contenders': {}, 'results': []}
    cs = []
    for c in allc:
        d = c.describe()
        if c.name not in want:
            d['skipped'] = 'not selected'
        else:
            why = c.missing()
            if why:
                d['skipped'] = why
                log('skipping %s: %s' % (c.name, why))
            else:
                cs.append(c)
        doc['contenders'][c.name] = d
    doc['_all'] = [c for c in allc if c.name in want]
    if not cs:
        sys.exit('bench: no contender can run')

    # bench/run makes the private work directory (and checks it for leaks)
    work = os.environ.get('BENCH_WORKDIR') or \
        tempfile.mkdtemp(prefix='e2fsprogs-iomap-bench.')
    os.makedirs(work, exist_ok=True)
    active = []

    def cleanup(*_):
        for c in active:
            try:
                c.teardown()
            except Exception as e:
                log('teardown %s: %s' % (c.name, e))
        active.clear()
        shutil.rmtree(work, ignore_errors=True)

    def on_signal(sig, frame):
        cleanup()
        sys.exit(128 + sig)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        t_start = time.monotonic()
        # One source directory, one data file of random bytes, and one image
        # a contender, all made the same way.
        src = os.path.join(work, 'src')
        os.mkdir(src)
        datafile = os.path.join(src, 'data')
        with open(datafile, 'wb') as f:
            for _ in range(p['data_mib']):
                f.write(os.urandom(MiB))
        for c in list(cs):
            try:
                if c.needs_image:
                    img = os.path.join(work, c.name + '.img')
                    run(MKFS + ['-d', src, img, '%dM' % p['image_mib']])
                    c.image = img
                    if 'features' not in doc:
                        sb = run(['dumpe2fs', '-h', img]).stdout
                        doc['features'] = sb.split('Filesystem features:', 1)[-1] \
                            .splitlines()[0].strip()
                    c.setup(work, img)
                else:
                    c.setup(work, datafile)
                active.append(c)
            except (Skip, RuntimeError, subprocess.CalledProcessError) as e:
                why = str(e)
                if isinstance(e, subprocess.CalledProcessError):
                    why = '%s: %s' % (' '.join(e.cmd[:2]), e.stderr.strip())
                if not isinstance(e, Skip):
                    why = 'setup failed: ' + why
                c.teardown()
                log('skipping %s: %s' % (c.name, why))
                doc['contenders'][c.name]['skipped'] = why
                cs.remove(c)
        if not cs:
            raise SystemExit('bench: no contender could be set up')
        log('set up %s in %.1f s' % (', '.join(c.name for c in cs),
                                     time.monotonic() - t_start))

        # A workload that follows another runs right after it on the same
        # contender (a warm read must come before the next drop_caches).
        groups = []
        for wl in wls:
            if groups and wl.follows == groups[-1][-1].name:
                groups[-1].append(wl)
            else:
                groups.append([wl])
        for rep in range(p['reps']):
            order = cs[rep % len(cs):] + cs[:rep % len(cs)]
            for group, c in ((g, c) for g in groups for c in order):
                prev = None
                for wl in group:
                    if not wl.applies(c):
                        continue
                    r = {'rep': rep, 'workload': wl.name, 'contender': c.name}
                    t0 = time.monotonic()
                    try:
                        res = measure(c, wl, p, work, prev, rep)
                        r['wall_s'] = time.monotonic() - t0
                        r.update(res)
                        r['value'] = wl.value(res)
                        if res.get('server_cpu_per_gib') is not None:
                            r['server_cpu'] = res['server_cpu_per_gib']
                        elif res.get('server_cpu_s') is not None:
                            r['server_cpu'] = (
                                res['server_cpu_s'] / (res['bytes'] / GiB)
                                if wl.per_gib else
                                res['server_cpu_s'] / res['ops'] * 1e6)
                        log('round %d %-14s %-16s %10s %s' % (
                            rep + 1, wl.name, c.name, fmt(r['value']), wl.unit))
                        prev = res
                    except NotApplicable:
                        continue
                    except Exception as e:
                        r['error'] = str(e) or type(e).__name__
                        log('round %d %-14s %-16s FAILED: %s' % (
                            rep + 1, wl.name, c.name, r['error'][-300:]))
                        prev = None
                    doc['results'].append(r)

        perf = [w for w in wls if w.name in
                os.environ.get('BENCH_PERF', '').split(',')]
        if perf and not shutil.which('perf'):
            log('BENCH_PERF: no perf (Debian package linux-perf): no profiles')
        elif perf:
            doc['profiles'] = profile(cs, perf, p, work, outdir)

        model = [c for c in cs if c.kind == 'model']
        if model and os.environ.get('BENCH_CALLGRIND', '1') != '0' and \
                not shutil.which('valgrind'):
            log('no valgrind: no instruction counts per mapping request')
        elif model and os.environ.get('BENCH_CALLGRIND', '1') != '0':
            for c in model:
                log('callgrind: %s' % c.name)
                try:
                    doc['contenders'][c.name]['callgrind'] = c.callgrind(work)
                except Exception as e:
                    doc['contenders'][c.name]['callgrind'] = {'error': str(e)}
                    log('callgrind %s: %s' % (c.name, e))

        for c in list(active):
            c.teardown()
            active.remove(c)
            d = doc['contenders'][c.name]
            if getattr(c, 'exit_code', None):
                d['server_exit'] = c.exit_code
            if c.needs_image:
                f = subprocess.run(['e2fsck', '-fn', c.image],
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
                d['e2fsck_clean'] = f.returncode == 0
                if f.returncode:
                    d['e2fsck'] = f.stdout[-2000:]
                    log('e2fsck -fn found problems on the %s image' % c.name)
        doc['seconds'] = time.monotonic() - t_start
        doc['machine']['loadavg_end'] = os.getloadavg()
    finally:
        cleanup()

    doc['summary'] = summarize(doc['results'], [c.name for c in cs], wls)
    doc['workloads'] = {w.name: {'label': w.label, 'unit': w.unit} for w in wls}
    text = table(doc, cs, wls)
    allcs = doc.pop('_all')
    fsck = [n for n, d in doc['contenders'].items() if d.get('e2fsck_clean') is False]
    text += '\n\ne2fsck -fn after the run: %s' % (
        'clean on every image' if not fsck else 'PROBLEMS on ' + ', '.join(fsck))
    if doc.get('profiles'):
        text += '\nperf profiles (one extra, unmeasured run each): %s in %s' % (
            ', '.join(sorted(doc['profiles'].values())), os.path.relpath(outdir, TOP))
    died = ['%s (exit %d)' % (n, d['server_exit'])
            for n, d in doc['contenders'].items() if d.get('server_exit')]
    if died:
        text += '\nservers that did not exit cleanly: ' + ', '.join(died)
    text += '\ntotal %.0f s; raw results: %s' % (
        doc['seconds'], os.path.relpath(os.path.join(outdir, 'results.json'), TOP))
    with open(os.path.join(outdir, 'results.json'), 'w') as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    doc['_all'] = allcs
    with open(os.path.join(outdir, 'table.md'), 'w') as f:
        f.write(text + '\n')
    if chart(doc, cs, wls, os.path.join(outdir, 'chart.png')):
        text += '\nchart: %s' % os.path.relpath(os.path.join(outdir, 'chart.png'), TOP)
    latest = os.path.join(TOP, 'build', 'bench', 'latest')
    if os.path.dirname(outdir) == os.path.dirname(latest):
        if os.path.islink(latest):
            os.unlink(latest)
        if not os.path.exists(latest):
            os.symlink(os.path.basename(outdir), latest)
    print(text)
    return 1 if fsck or died else 0


if __name__ == '__main__':
    sys.exit(main())
