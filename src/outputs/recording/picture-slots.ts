// Which packets of a shared encode go into a recording's composite video, and where (pure). The
// encode runs for the call (a stream may be watching it while the recording is paused, or before
// the recording starts); the recording wants the pictures it would have taken itself, one slot of
// its timeline each, like CompositeFile. A packet is written only when the decoder can follow:
// after a picture left out of the file (paused, before the start, lost in an encoder restart) the
// file goes on from the next keyframe, and the slots until then hold the last picture.

export class PictureSlots {
  /** Pictures wanted, by number, and the slot each takes. */
  readonly #wanted = new Map<number, number>();
  #slots = 0;
  #needKeyframe = true;
  /** Packets written into the file. */
  written = 0;
  /** Wanted pictures that never came out of the encode (it dropped them at its input, or died). */
  lost = 0;
  /** Wanted pictures left out while waiting for a keyframe. */
  waited = 0;

  /** A picture goes to the encode; `wanted`: the recording would have taken it (not paused, started). */
  picture(frame: number, wanted: boolean): void {
    if (wanted) this.#wanted.set(frame, this.#slots++);
  }

  /**
   * A video packet of the encode, carrying picture `frame` (undefined: not known). Returns the slot
   * to write it at, or undefined to leave it out.
   */
  packet(frame: number | undefined, keyframe: boolean): number | undefined {
    if (frame === undefined) {
      this.#needKeyframe = true;
      return undefined;
    }
    // Pictures are encoded in order: wanted ones before this one that did not come never will.
    for (const earlier of this.#wanted.keys()) {
      if (earlier >= frame) break;
      this.#wanted.delete(earlier);
      this.lost++;
    }
    const slot = this.#wanted.get(frame);
    if (slot === undefined) {
      // Encoded but not for this file: what follows refers to it, so only a keyframe may follow.
      this.#needKeyframe = true;
      return undefined;
    }
    this.#wanted.delete(frame);
    if (this.#needKeyframe && !keyframe) {
      this.waited++;
      return undefined;
    }
    this.#needKeyframe = false;
    this.written++;
    return slot;
  }

  /** The encode started over, or a packet could not be written: the file goes on from a keyframe. */
  resync(): void {
    this.#needKeyframe = true;
  }

  /** Slots of the timeline so far (pictures wanted). */
  get slots(): number {
    return this.#slots;
  }

  /** Wanted pictures whose packet has not come yet. */
  get pending(): number {
    return this.#wanted.size;
  }

  /** The encode is over for this file: what has not come is lost. */
  close(): void {
    this.lost += this.#wanted.size;
    this.#wanted.clear();
  }
}
