#!/bin/sh
# Builds the image's ffmpeg from Debian's source package with only what hearthbridge uses (run by the
# ffmpeg stage of docker/Dockerfile; the README's Docker section lists the components).
#
#   ffmpeg-build.sh SOURCE_DIR PREFIX [TARGET_DEBIAN_ARCH]
#
# The bridge: FLV (RTMP ingest piped in), raw H.264 and ADTS AAC in; H.264 and AAC decode; libx264,
# libopus and MJPEG encode; RTP out over UDP (SRTP for the ffmpeg relay mode), image2pipe for
# snapshots; scale and aresample filters. The demo's simulated camera (sim/nanit/stream.ts): lavfi
# testsrc2 + sine, libx264 + AAC encode, FLV over RTMP. `doctor` runs a small encode through each.
# Everything else (hardware acceleration, X11, SDL, every other codec and format) stays out, so the
# binary needs only libc, libm, libx264 and libopus at run time.
# With TARGET_DEBIAN_ARCH other than the build machine's (arm64 on amd64) it cross-compiles with
# Debian's cross toolchain and the target's -dev packages (multiarch), instead of compiling under
# qemu-user (about ten times slower).
set -eu
src=$1 prefix=$2
target=${3:-$(dpkg --print-architecture)}
cross=""
if [ "$target" != "$(dpkg --print-architecture)" ]; then
  case "$target" in
    arm64) triplet=aarch64-linux-gnu arch=aarch64 ;;
    amd64) triplet=x86_64-linux-gnu arch=x86_64 ;;
    *) echo "ffmpeg-build.sh: no cross toolchain for $target" >&2; exit 1 ;;
  esac
  cross="--enable-cross-compile --cross-prefix=$triplet- --arch=$arch --target-os=linux --pkg-config=pkg-config"
  export PKG_CONFIG_LIBDIR=/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig
fi

cd "$src"
# shellcheck disable=SC2086 # $cross is a word list on purpose
./configure --prefix="$prefix" $cross \
  --disable-everything --disable-autodetect --disable-debug --disable-doc --disable-ffplay --disable-ffprobe \
  --disable-postproc --enable-gpl --enable-libx264 --enable-libopus \
  --enable-decoder=h264,aac,mjpeg,rawvideo,pcm_s16le \
  --enable-encoder=libx264,libopus,aac,mjpeg,rawvideo,pcm_s16le,wrapped_avframe \
  --enable-parser=h264,aac,mjpeg \
  --enable-demuxer=flv,live_flv,h264,aac,mjpeg,image2pipe \
  --enable-muxer=flv,rtp,h264,adts,mjpeg,image2pipe,null \
  --enable-bsf=h264_mp4toannexb,aac_adtstoasc,extract_extradata,null \
  --enable-protocol=file,pipe,udp,rtp,srtp,tcp,rtmp \
  --enable-filter=scale,format,null,anull,aresample,aformat,fps,setpts,asetpts,trim,atrim,testsrc2,sine \
  --enable-indev=lavfi
make -j"$(nproc)"
make install
"$prefix/bin/ffmpeg" -hide_banner -version 2>/dev/null | head -1 || true
