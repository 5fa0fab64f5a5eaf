// The raw picture that travels from the cameras to the call's picture and on to the encoders.

export interface Size {
  width: number;
  height: number;
}

/** An I420 picture: full-size Y plane, then quarter-size U and V planes. */
export interface I420 extends Size {
  data: Uint8Array;
}
