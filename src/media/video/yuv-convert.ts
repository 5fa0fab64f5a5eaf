// libyuv's colour conversions, through rtc-node's FFI (native, BT.601 as WebRTC's cameras use).
import { VideoBufferType, VideoFrame } from '@livekit/rtc-node';
import type { Size } from './i420.ts';

/** The FFI reads from the start of the bytes' ArrayBuffer, so a view into a larger buffer is copied out first. */
function convert(bytes: Uint8Array, size: Size, from: VideoBufferType, to: VideoBufferType): Uint8Array {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
  return new VideoFrame(whole, size.width, size.height, from).convert(to).data;
}

export const i420ToRgba = (i420: Uint8Array, size: Size) => convert(i420, size, VideoBufferType.I420, VideoBufferType.RGBA);
export const rgbaToI420 = (rgba: Uint8Array, size: Size) => convert(rgba, size, VideoBufferType.RGBA, VideoBufferType.I420);
