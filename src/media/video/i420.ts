// The raw picture that travels from the cameras to the call's picture and on to the encoders.

export interface Size {
  width: number;
  height: number;
}

/** An I420 picture: full-size Y plane, then quarter-size U and V planes. */
export interface I420 extends Size {
  data: Uint8Array;
}

/** The planes' sizes: Y full, U and V half each way (rounded up, as libyuv lays them out). */
export const planeSizes = (size: Size): [Size, Size, Size] => {
  const chroma = { width: Math.ceil(size.width / 2), height: Math.ceil(size.height / 2) };
  return [size, chroma, chroma];
};

/** Where each plane (Y, U, V) of an I420 picture of this size starts. */
export const planeOffsets = (size: Size): [number, number, number] => {
  const [luma, chroma] = planeSizes(size);
  const y = luma.width * luma.height;
  return [0, y, y + chroma.width * chroma.height];
};

/** Bytes of an I420 picture of this size (no allocation: the streams ask for every picture). */
export const i420Bytes = ({ width, height }: Size): number => width * height + 2 * Math.ceil(width / 2) * Math.ceil(height / 2);
