#!/usr/bin/env bash
# Builds Fluxer's official web app (upstream's fluxer_app, AGPL) from upstream's source into
# <dir>/fluxer_app/dist, for `web.app_dir`. This project ships none of upstream's code: the bundle is
# built from an upstream checkout you provide.
#
#   UPSTREAM=/path/to/fluxer bash scripts/build-web-app.sh <dir>
#
# UPSTREAM is a clone of https://github.com/fluxerapp/fluxer (or its git dir); COMMIT picks the
# revision (ee1f27fe, the v1 monolith era this server follows, by default). Needs Node >= 20.11 and the
# npm registry; about 3 minutes on 2 cores. No Rust/WASM toolchain: the optional libfluxcore WASM module
# (zstd gateway compression, off by default, and animated-avatar cropping) is replaced by a stub.
#
# The bundle is built same-origin and port-agnostic: the app asks `/api` (resolved against the page's
# origin) for `/.well-known/fluxer`, which tells it where the API, gateway and media proxy are, and its
# chunks load from `/assets/` on the same origin.
set -euo pipefail
UPSTREAM=${UPSTREAM:?set UPSTREAM to a clone of upstream Fluxer (or its git dir)}
COMMIT=${COMMIT:-ee1f27fe}
W=${1:?give the build directory}
GIT_DIR_OF_UPSTREAM=$UPSTREAM
[ -d "$UPSTREAM/.git" ] && GIT_DIR_OF_UPSTREAM="$UPSTREAM/.git"
mkdir -p "$W"
W=$(cd "$W" && pwd)
cd "$W"

# The app, the workspace packages it imports, and the workspace manifests pnpm needs.
git --git-dir="$GIT_DIR_OF_UPSTREAM" archive "$COMMIT" fluxer_app packages package.json \
	pnpm-workspace.yaml pnpm-lock.yaml .npmrc tsconfig.json tsconfigs patches 2>/dev/null | tar -x -C "$W"
for p in fluxer_admin fluxer_api fluxer_app_proxy fluxer_integration fluxer_marketing fluxer_media_proxy \
	fluxer_relay_directory fluxer_server; do
	git --git-dir="$GIT_DIR_OF_UPSTREAM" archive "$COMMIT" "$p/package.json" 2>/dev/null | tar -x -C "$W" || true
done
command -v pnpm >/dev/null || npm i -g pnpm@10
# No install scripts: wasm-pack's would download a binary.
# Use the pnpm at hand (also in the scripts pnpm runs): switching to the exact version upstream pins
# fails where the registry serves it without a signature.
echo 'manage-package-manager-versions=false' >> .npmrc
nice -n 19 pnpm install --frozen-lockfile --ignore-scripts --filter 'fluxer_app...'

# A stand-in for the libfluxcore WASM package: its functions report themselves unavailable.
mkdir -p fluxer_app/pkgs/libfluxcore
cat > fluxer_app/pkgs/libfluxcore/libfluxcore.js <<'JS'
const missing = (name) => () => { throw new Error(`libfluxcore is not in this build: ${name}`); };
export default async function init() {}
export function initSync() {}
export function is_animated_image(_bytes) { return false; }
export const crop_and_rotate_apng = missing('crop_and_rotate_apng');
export const crop_and_rotate_gif = missing('crop_and_rotate_gif');
export const crop_and_rotate_image = missing('crop_and_rotate_image');
export const decompress_zstd_frame = missing('decompress_zstd_frame');
JS
cat > fluxer_app/pkgs/libfluxcore/libfluxcore.d.ts <<'TS'
export default function init(module_or_path?: unknown): Promise<void>;
export function initSync(module: unknown): void;
export function is_animated_image(bytes: Uint8Array): boolean;
export function crop_and_rotate_apng(a: Uint8Array, x: number, y: number, w: number, h: number, r: number, rw?: number | null, rh?: number | null): Uint8Array;
export function crop_and_rotate_gif(a: Uint8Array, x: number, y: number, w: number, h: number, r: number, rw?: number | null, rh?: number | null): Uint8Array;
export function crop_and_rotate_image(a: Uint8Array, format: string, x: number, y: number, w: number, h: number, r: number, rw?: number | null, rh?: number | null): Uint8Array;
export function decompress_zstd_frame(bytes: Uint8Array): Uint8Array;
TS
printf '\x00asm\x01\x00\x00\x00' > fluxer_app/pkgs/libfluxcore/libfluxcore_bg.wasm

# The build reads one setting: where to find the API (the page's own origin, under /api).
mkdir -p "$W/.config"
echo '{"app_public":{"api_version":"1","bootstrap_api_endpoint":"/api","bootstrap_api_public_endpoint":"/api"}}' \
	> "$W/.config/config.json"
export FLUXER_CONFIG="$W/.config/config.json"

# Chunks from the same origin rather than upstream's CDN.
cat > fluxer_app/rspack.same-origin.mjs <<'JS'
import upstream from './rspack.config.mjs';
export default (...args) => { const config = upstream(...args); config.output.publicPath = '/'; return config; };
JS

cd fluxer_app
nice -n 19 pnpm generate:colors
nice -n 19 pnpm generate:masks
nice -n 19 pnpm generate:css-types >/dev/null
nice -n 19 pnpm lingui:compile
rm -rf dist
nice -n 19 pnpm exec rspack build -c rspack.same-origin.mjs --mode production
NODE_ENV=production nice -n 19 pnpm exec tsx scripts/build-sw.mjs
# Source maps are not needed to run it.
find dist -name '*.map' -delete
echo "built: $W/fluxer_app/dist (set web.app_dir to it)"
