/**
 * The peer tools the preprocess and ocr-peers suites measure imgpipe against. None of them is a
 * requirement of imgpipe: a suite finds what is installed, measures it, and reports what is
 * missing as skipped with the command that installs it (never silently dropped).
 *
 *   `npm run bench -- --install-peers` installs them: the Debian packages with apt-get (as root,
 *   or through sudo), and sharp-cli with npm into bench/.peers/ (gitignored), so that it never
 *   enters imgpipe's own dependency tree.
 *
 * Traps (see PEERS.md): Debian's tesseract must run with OMP_THREAD_LIMIT=1 (it asks for 4
 * OpenMP threads on 2 cores, 6x slower); mogrify needs `-profile icc:FILE` (a bare file name is
 * skipped when the output format changes) after `-resize`; vipsthumbnail needs `-i srgb -e srgb`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
// lib.js imports this module, so ROOT_DIR is worked out here rather than read from it.
import { log } from './lib.js';

const ROOT_DIR = decodeURIComponent(new URL('..', import.meta.url).pathname).replace(/\/$/, '');
export const PEERS_DIR = path.join(ROOT_DIR, 'bench', '.peers');
export const SHARP_CLI_PACKAGE = 'sharp-cli@6.1.0';
const APT_PACKAGES = ['tesseract-ocr', 'imagemagick', 'libvips-tools', 'parallel', 'time'];

export const INSTALL_PEERS = 'npm run bench -- --install-peers';

/** Each peer: how to find it, how to read its version, and how to install it alone. */
const TOOLS = {
  parallel: { bin: 'parallel', version: (run) => run(['--version']).split('\n')[0].replace(/^GNU parallel\s*/, ''), install: 'apt-get install -y parallel' },
  time: { bin: '/usr/bin/time', version: (run) => (run(['--version']).match(/\d+(\.\d+)+/) ?? ['GNU time'])[0], install: 'apt-get install -y time' },
  tesseract: { bin: 'tesseract', version: (run) => run(['--version']).split('\n')[0].replace(/^tesseract\s*/, ''), install: 'apt-get install -y tesseract-ocr' },
  mogrify: { bin: 'mogrify', version: (run) => (run(['-version']).match(/ImageMagick (\S+)/) ?? [null, '?'])[1], install: 'apt-get install -y imagemagick' },
  vipsthumbnail: { bin: 'vipsthumbnail', version: (run) => run(['--vips-version']).trim().replace(/^libvips\s*/, ''), install: 'apt-get install -y libvips-tools' },
  'sharp-cli': {
    bin: path.join(PEERS_DIR, 'node_modules', '.bin', 'sharp'),
    version: (run) => run(['--version']).trim(),
    install: `npm install --prefix bench/.peers ${SHARP_CLI_PACKAGE}`,
  },
};

function which(bin) {
  if (bin.includes('/')) return existsSync(bin) ? bin : null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, bin);
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

/**
 * { name, path, version } when the tool is installed, else { name, missing: true, install }:
 * `install` is what a report prints beside "skipped".
 */
export function findPeer(name) {
  const tool = TOOLS[name];
  if (!tool) throw new Error(`bench/peers.js: no peer tool '${name}'`);
  const found = which(tool.bin);
  if (!found) return { name, missing: true, install: `${INSTALL_PEERS} (or: ${tool.install})` };
  const run = (args) => {
    const result = spawnSync(found, args, { encoding: 'utf8', timeout: 10_000 });
    return `${result.stdout ?? ''}${result.stderr ?? ''}`;
  };
  let version = 'unknown';
  try {
    version = tool.version(run) || 'unknown';
  } catch {
    // The version is for the report; a tool that cannot say it is still measured.
  }
  return { name, path: found, version };
}

/** Versions of every peer tool, for the machine description ('not installed' when missing). */
export function peerVersions() {
  return Object.fromEntries(Object.keys(TOOLS).filter((name) => name !== 'time').map((name) => {
    const peer = findPeer(name);
    return [name, peer.missing ? 'not installed' : peer.version];
  }));
}

/** `--install-peers`: apt-get for the Debian packages, npm --prefix bench/.peers for sharp-cli. */
export function installPeers() {
  const apt = ['install', '-y', '--no-install-recommends', ...APT_PACKAGES];
  const root = process.getuid?.() === 0;
  const sudo = !root && which('sudo');
  if (!which('apt-get')) {
    log(`install-peers: no apt-get on this machine; install ${APT_PACKAGES.join(', ')} with its package manager`);
  } else if (!root && !sudo) {
    log(`install-peers: not root and no sudo; run as root: apt-get ${apt.join(' ')}`);
  } else {
    const prefix = root ? [] : ['sudo'];
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    log(`install-peers: ${[...prefix, 'apt-get', 'update'].join(' ')}`);
    execFileSync(prefix[0] ?? 'apt-get', [...(root ? [] : ['apt-get']), 'update'], { stdio: ['ignore', 'inherit', 'inherit'], env });
    log(`install-peers: ${[...prefix, 'apt-get', ...apt].join(' ')}`);
    execFileSync(prefix[0] ?? 'apt-get', [...(root ? [] : ['apt-get']), ...apt], { stdio: ['ignore', 'inherit', 'inherit'], env });
  }
  log(`install-peers: npm install --prefix bench/.peers ${SHARP_CLI_PACKAGE}`);
  execFileSync('npm', ['install', '--prefix', PEERS_DIR, '--no-audit', '--no-fund', SHARP_CLI_PACKAGE], { cwd: ROOT_DIR, stdio: ['ignore', 'inherit', 'inherit'] });
  for (const [name, version] of Object.entries(peerVersions())) log(`install-peers: ${name} ${version}`);
}
