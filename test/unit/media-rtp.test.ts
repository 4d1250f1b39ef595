// The native video relay's building blocks without a network: H.264 into RTP (single NAL units and
// FU-A fragments, marker bits, sequence numbers, timestamps), SRTP/SRTCP against RFC 3711's test
// vectors and against the independent receiver in test/helpers/srtp.ts, RTCP sender reports and the
// RTP clock across reconnects, and ADTS framing.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createCipheriv, createHmac, randomBytes } from "node:crypto";
import { adtsHeader } from "../../src/media/protocol/adts.ts";
import { H264Packetizer, splitAvcc } from "../../src/media/protocol/h264-rtp.ts";
import { RtpTimeline, senderReportPacket } from "../../src/media/protocol/rtcp.ts";
import { AesCounterMode, counterIv, sessionKeys, SrtpSender } from "../../src/media/protocol/srtp.ts";
import { SrtpReceiver, type RtpPacket } from "../helpers/srtp.ts";
import { H264Depacketizer } from "../helpers/rtp-h264.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

/** A NAL unit of `length` bytes with header byte `header` and a counting body. */
function nal(header: number, length: number): Buffer {
  const unit = Buffer.alloc(length);
  unit[0] = header;
  for (let i = 1; i < length; i++) unit[i] = i & 0xff;
  return unit;
}

function plain(packet: Buffer): RtpPacket {
  return {
    payloadType: packet[1]! & 0x7f,
    marker: (packet[1]! & 0x80) !== 0,
    sequence: packet.readUInt16BE(2),
    timestamp: packet.readUInt32BE(4),
    ssrc: packet.readUInt32BE(8),
    payload: packet.subarray(12),
  };
}

describe("H.264 RTP packetizer (RFC 6184)", () => {
  const MAX = 100; // RTP packet size: 88 bytes of payload

  it("sends a NAL unit that fits alone, and cuts one that does not into FU-A fragments at the payload size", () => {
    const p = new H264Packetizer({ payloadType: 99, ssrc: 0xdeadbeef, maxPacketSize: MAX, sequence: 10 });
    const fits = nal(0x65, 88);
    const over = nal(0x65, 89);
    const [single] = p.packetize([fits], 1000);
    assert.equal(single!.length, MAX, "exactly the largest packet");
    assert.deepEqual(single!.subarray(12), fits, "a single NAL unit packet is the unit itself");

    const fragments = p.packetize([over], 2000);
    assert.equal(fragments.length, 2, "89 bytes: header byte dropped, 88 body bytes in fragments of 86");
    const [a, b] = fragments.map((f) => f.subarray(12));
    assert.equal(a![0], (0x65 & 0xe0) | 28, "FU indicator keeps F and NRI, type 28");
    assert.equal(a![1], 0x80 | 5, "start bit + the unit's type");
    assert.equal(b![1], 0x40 | 5, "end bit + the unit's type");
    assert.equal(fragments[0]!.length, MAX, "the first fragment fills the packet");
    assert.deepEqual(
      Buffer.concat([Buffer.from([0x65]), a!.subarray(2), b!.subarray(2)]),
      over,
      "fragments reassemble to the unit",
    );
    assert.ok(fragments.every((f) => f.length <= MAX));
  });

  it(
    "sets the marker bit on the last packet of an access unit only, " +
      "one timestamp per access unit, counts sequence numbers across the wrap",
    () => {
      const p = new H264Packetizer({ payloadType: 99, ssrc: 7, maxPacketSize: MAX, sequence: 0xfffe });
      const units = [nal(0x67, 20), nal(0x68, 5), nal(0x65, 300)];
      const packets = p.packetize(units, 0xfffffff0 + 0x20).map(plain);
      assert.equal(packets.length, 2 + Math.ceil(299 / 86));
      assert.deepEqual(
        packets.map((x) => x.marker),
        [...Array(packets.length - 1).fill(false), true],
      );
      assert.ok(
        packets.every((x) => x.timestamp === 0x10 && x.payloadType === 99 && x.ssrc === 7),
        "timestamp taken modulo 2^32",
      );
      assert.deepEqual(packets.map((x) => x.sequence).slice(0, 4), [0xfffe, 0xffff, 0, 1]);
      const next = p.packetize([nal(0x41, 10)], 3000).map(plain);
      assert.equal(next[0]!.sequence, (packets.at(-1)!.sequence + 1) & 0xffff);
      assert.equal(next[0]!.marker, true, "a one-packet access unit carries the marker");

      // The test's depacketizer (written apart from ours) rebuilds the same units.
      const depacketizer = new H264Depacketizer();
      for (const x of packets) depacketizer.push(x);
      const start = Buffer.from([0, 0, 0, 1]);
      assert.deepEqual(depacketizer.annexB(), Buffer.concat(units.flatMap((u) => [start, u])));
      assert.deepEqual(depacketizer.nalTypes, [7, 8, 5]);
    },
  );

  it("splits AVCC frames and refuses a truncated one", () => {
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 3]), nal(0x65, 3), Buffer.from([0, 0, 0, 2]), nal(0x41, 2)]);
    assert.deepEqual(splitAvcc(frame, 4), [nal(0x65, 3), nal(0x41, 2)]);
    assert.equal(splitAvcc(frame.subarray(0, frame.length - 1), 4), undefined);
  });
});

describe("SRTP AES_CM_128_HMAC_SHA1_80 (RFC 3711)", () => {
  it("derives the session keys of appendix B.3", () => {
    const keys = sessionKeys(hex("E1F97A0D3E018BE0D64FA32C06DE4139"), hex("0EC675AD498AFEEBB6960B3AABE6"));
    assert.equal(keys.key.toString("hex").toUpperCase(), "C61E7A93744F39EE10734AFE3FF7A087");
    assert.equal(keys.salt.toString("hex").toUpperCase(), "30CBBC08863D8C85D49DB34A9AE1");
    assert.equal(keys.auth.toString("hex").toUpperCase(), "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4");
  });

  it("makes the keystream of appendix B.2 (SSRC 0, index 0)", () => {
    const iv = counterIv(hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"), 0, 0);
    const stream = Buffer.alloc(48);
    new AesCounterMode(hex("2B7E151628AED2A6ABF7158809CF4F3C")).apply(iv, stream);
    assert.deepEqual(
      createCipheriv("aes-128-ctr", hex("2B7E151628AED2A6ABF7158809CF4F3C"), iv).update(Buffer.alloc(48)),
      stream,
      "the same as node's aes-128-ctr",
    );
    assert.equal(
      stream.toString("hex").toUpperCase(),
      "E03EAD0935C95E80E166B16DD92B4EB4" + "D23513162B02D0F72A43A2FE4A5F97AB" + "41E95B3BB0A2E8DD477901E4FCA894C0",
    );
  });

  it("puts SSRC and the 48-bit index where 4.1.1 says", () => {
    const iv = counterIv(Buffer.alloc(14), 0x11223344, 0xaabb_ccddeeff);
    assert.equal(iv.toString("hex"), "0000000011223344aabbccddeeff0000");
  });

  it("round-trips through the independent receiver across a sequence-number wrap (rollover counter 1)", () => {
    const master = { key: randomBytes(16), salt: randomBytes(14) };
    const sender = new SrtpSender(master.key, master.salt);
    const receiver = new SrtpReceiver(master);
    const p = new H264Packetizer({ payloadType: 99, ssrc: 0x01020304, maxPacketSize: 1368, sequence: 0xfff0 });
    const units = [nal(0x65, 30_000)];
    const packets = p.packetize(units, 90_000);
    assert.ok(packets.length > 16, "crosses 0xffff");
    const received = packets.map((packet) => {
      const protectedPacket = sender.protectRtp(packet);
      assert.equal(protectedPacket.length, packet.length + 10, "80-bit tag");
      assert.notDeepEqual(protectedPacket.subarray(12, 40), packet.subarray(12, 40), "payload encrypted");
      return receiver.unprotect(protectedPacket);
    });
    assert.equal(sender.roc, 1);
    assert.deepEqual(
      received.map((r) => r.payload),
      packets.map((x) => x.subarray(12)),
    );
    assert.throws(
      () =>
        new SrtpReceiver({ key: randomBytes(16), salt: master.salt }).unprotect(
          sender.protectRtp(p.packetize([nal(0x41, 10)], 1)[0]!),
        ),
      /does not verify/,
    );
  });

  it("protects RTCP as SRTCP: header in clear, E flag and index, tag over both (checked by hand here)", () => {
    const master = { key: randomBytes(16), salt: randomBytes(14) };
    const sender = new SrtpSender(master.key, master.salt);
    const rtcp = Buffer.alloc(28);
    rtcp[0] = 0x80;
    rtcp[1] = 200;
    rtcp.writeUInt16BE(6, 2);
    rtcp.writeUInt32BE(0xcafebabe, 4);
    rtcp.fill(0x5a, 8);
    for (const index of [0, 1]) {
      const srtcp = sender.protectRtcp(rtcp);
      assert.equal(srtcp.length, 28 + 4 + 10);
      assert.deepEqual(srtcp.subarray(0, 8), rtcp.subarray(0, 8));
      assert.equal(srtcp.readUInt32BE(28), (0x80000000 | index) >>> 0);
      // Independent derivation: labels 3, 4, 5 (RFC 3711 4.3.2) with the plain formula.
      const derive = (label: number, length: number) => {
        const iv = Buffer.alloc(16);
        master.salt.copy(iv);
        iv[7]! ^= label;
        return createCipheriv("aes-128-ctr", master.key, iv).update(Buffer.alloc(length));
      };
      const [key, auth, salt] = [derive(3, 16), derive(4, 20), derive(5, 14)];
      const tag = createHmac("sha1", auth).update(srtcp.subarray(0, 32)).digest().subarray(0, 10);
      assert.deepEqual(srtcp.subarray(32), tag);
      const iv = Buffer.alloc(16);
      salt.copy(iv);
      iv.writeUInt32BE((iv.readUInt32BE(4) ^ 0xcafebabe) >>> 0, 4);
      iv.writeUInt32BE((iv.readUInt32BE(10) ^ index) >>> 0, 10);
      assert.deepEqual(createCipheriv("aes-128-ctr", key, iv).update(srtcp.subarray(8, 28)), rtcp.subarray(8));
    }
  });
});

describe("ADTS framing of the camera's AAC", () => {
  it("writes the 7-byte header of AAC-LC 44.1 kHz mono, and refuses what ADTS cannot say", () => {
    const lc44mono = Buffer.from([0x12, 0x08]);
    assert.deepEqual([...adtsHeader(lc44mono, 100)!], [0xff, 0xf1, 0x50, 0x40, 0x0d, 0x7f, 0xfc]);
    const lc48stereo = Buffer.from([0x11, 0x90]);
    assert.deepEqual([...adtsHeader(lc48stereo, 0x1ff8)!.subarray(2, 4)], [0x4c, 0x80 | 0x03]);
    assert.equal(adtsHeader(Buffer.from([0x17, 0x80, 0, 0, 0]), 10), undefined, "explicit sampling rate");
    assert.equal(adtsHeader(Buffer.from([0x2b, 0x88]), 10), undefined, "object type 5 (SBR)");
  });
});

describe("RTCP sender reports and the RTP clock", () => {
  it("writes SR + SDES CNAME: NTP time of the wall clock, RTP time, counts, padded CNAME", () => {
    const wallMs = Date.UTC(2025, 0, 1) + 250;
    const cname = Buffer.from("hb");
    const counts = { packets: 42, octets: 4200 };
    const packet = senderReportPacket({ ssrc: 0xfeedf00d, wallMs, rtpTimestamp: 0x1_0000_0005, ...counts, cname });
    const expected = Buffer.concat([
      Buffer.from([0x80, 200, 0, 6, 0xfe, 0xed, 0xf0, 0x0d]),
      Buffer.from((Date.UTC(2025, 0, 1) / 1000 + 2_208_988_800).toString(16).padStart(8, "0"), "hex"),
      Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 42, 0, 0, 0x10, 0x68]),
      // SDES: 16 bytes (length 3 words after the first): header, SSRC, CNAME "hb", end, padding.
      Buffer.from([0x81, 202, 0, 3, 0xfe, 0xed, 0xf0, 0x0d, 1, 2, 0x68, 0x62, 0, 0, 0, 0]),
    ]);
    assert.deepEqual(packet, expected);
  });

  it("maps pts to 90 kHz from its base, and continues one frame on after a new publish or a clock jump", () => {
    const timeline = new RtpTimeline(1_000);
    assert.equal(timeline.observe(1, 5_000), true, "the first publish");
    assert.equal(timeline.place(5_000, 5_000), 1_000);
    assert.equal(timeline.observe(1, 5_040), false);
    assert.equal(timeline.place(5_040, 5_080), 1_000 + 80 * 90, "pts, not dts");
    // A new publish whose clock starts at 0: one frame (the last step, 40 ms) after the last frame.
    assert.equal(timeline.observe(2, 0), true);
    assert.equal(timeline.place(0, 0), 1_000 + 80 * 90);
    assert.equal(timeline.observe(2, 40), false);
    assert.equal(timeline.place(40, 40), 1_000 + 120 * 90);
    // The camera's clock jumps 10 s ahead within a publish: a discontinuity, not a 10 s gap.
    assert.equal(timeline.observe(2, 10_040), false);
    assert.equal(timeline.place(10_040, 10_040), 1_000 + 160 * 90);
    assert.equal(new RtpTimeline(2 ** 32 - 90).place(0, 2), 90, "wraps at 32 bits");
  });
});
