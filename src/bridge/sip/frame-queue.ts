// A bounded single-consumer queue exposed as an async iterable: received audio frames for one leg.
// When the consumer falls behind, the oldest frames go (counted), so latency stays bounded.

export class FrameQueue<T> implements AsyncIterable<T> {
  dropped = 0;
  private readonly items: T[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private ended = false;
  private readonly limit: number;
  private iterated = false;

  constructor(limit: number) {
    this.limit = limit;
  }

  push(item: T): void {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (this.items.length > this.limit) {
      this.items.shift();
      this.dropped++;
    }
  }

  /** Ends iteration once the queued items are consumed. */
  end(): void {
    this.ended = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterated) throw new Error('a leg\'s frames can be iterated by one consumer only');
    this.iterated = true;
    return {
      next: () => {
        const item = this.items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiter = resolve));
      },
      return: () => {
        this.end();
        this.items.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
