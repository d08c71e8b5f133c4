/**
 * {@link HttpHeaders}: the header fields of a parsed HTTP/1.x head, in wire
 * order, with repeats kept.
 *
 * @module
 */
import { TCHAR } from "./chars.ts";

let fromParsed: (names: string[], values: string[]) => HttpHeaders;

/**
 * Header fields as received: names compared case-insensitively (stored
 * lower-cased), every occurrence kept in order. Unlike `Headers`, repeated
 * fields are not merged on the way in, so `getAll()` sees each line.
 *
 * @example Read repeated and single fields
 * ```ts
 * import { parseResponseHead } from "@sluice/net/core";
 * const raw = "HTTP/1.1 200 OK\r\nVary: a\r\nvary: b\r\nContent-Length: 0\r\n\r\n";
 * const head = parseResponseHead(new TextEncoder().encode(raw))!;
 * head.headers.get("VARY"); // "a, b"
 * head.headers.getAll("vary"); // ["a", "b"]
 * ```
 */
export class HttpHeaders {
  #names: string[] = [];
  /** Parallel to #names: same length, value i belongs to name i. */
  #values: string[] = [];

  static {
    fromParsed = (names, values) => {
      const h = new HttpHeaders();
      h.#names = names;
      h.#values = values;
      return h;
    };
  }

  /**
   * Creates a header list from name/value pairs, validating each.
   *
   * @param init Pairs in order; repeats are kept.
   * @throws {TypeError} When a name is not a token or a value holds CR, LF or NUL.
   */
  constructor(init?: Iterable<readonly [string, string]>) {
    if (init === undefined) return;
    for (const [name, value] of init) {
      assertHeader(name, value);
      this.#names.push(name.toLowerCase());
      this.#values.push(value.trim());
    }
  }

  /** The number of fields, counting each repeat. */
  get size(): number {
    return this.#names.length;
  }

  /**
   * Returns a field's value: repeated fields joined with `", "` (RFC 9110
   * §5.3), except `set-cookie`, which cannot be joined, gives its first value.
   *
   * @param name The field name, any case.
   * @returns The value, or `null` when the field is absent.
   */
  get(name: string): string | null {
    const key = name.toLowerCase();
    let found: string | null = null;
    for (let i = 0; i < this.#names.length; i++) {
      if (this.#names[i] !== key) continue;
      if (found === null) {
        found = this.#values[i]!;
        if (key === "set-cookie") return found;
      } else found += ", " + this.#values[i];
    }
    return found;
  }

  /**
   * Returns every value of a field, one per occurrence, in order.
   *
   * @param name The field name, any case.
   * @returns The values; empty when the field is absent.
   */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    const out: string[] = [];
    for (let i = 0; i < this.#names.length; i++) if (this.#names[i] === key) out.push(this.#values[i]!);
    return out;
  }

  /**
   * Whether the field occurs at least once.
   *
   * @param name The field name, any case.
   * @returns True when present.
   */
  has(name: string): boolean {
    return this.#names.includes(name.toLowerCase());
  }

  /**
   * Iterates `[lowerCaseName, value]` pairs in wire order, repeats included.
   *
   * @returns An iterator over the fields.
   */
  *[Symbol.iterator](): IterableIterator<[string, string]> {
    for (let i = 0; i < this.#names.length; i++) yield [this.#names[i]!, this.#values[i]!];
  }

  /**
   * Copies the fields into a Fetch `Headers` (which merges repeats, except
   * `set-cookie`, see `Headers.getSetCookie()`).
   *
   * @returns A new `Headers`.
   */
  toHeaders(): Headers {
    const h = new Headers();
    for (let i = 0; i < this.#names.length; i++) h.append(this.#names[i]!, this.#values[i]!);
    return h;
  }
}

/**
 * Wraps already-validated, lower-cased names and values without copying.
 * Internal to the codec.
 *
 * @param names Lower-cased field names.
 * @param values Field values, OWS trimmed.
 * @returns The header list.
 */
export function headersFromParsed(names: string[], values: string[]): HttpHeaders {
  return fromParsed(names, values);
}

/**
 * Checks a field about to be sent or stored: the name must be a token
 * (RFC 9110 §5.1) and the value must not contain CR, LF or NUL (§5.5), which
 * would let a caller inject fields or a whole request.
 *
 * @param name The field name.
 * @param value The field value.
 * @throws {TypeError} Naming the bad field.
 */
export function assertHeader(name: string, value: string): void {
  if (name.length === 0) throw new TypeError("header name must not be empty");
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0x7f || TCHAR[c] === 0) {
      throw new TypeError(`header name must be a token: got ${JSON.stringify(name)}`);
    }
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // RFC 9110 §5.5: field values are visible characters, spaces and tabs
    // (and obs-text); CR, LF and NUL would also inject fields or end the head.
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) {
      throw new TypeError(
        `header ${name} has a control character (CR, LF, NUL…) or a non-latin1 character: got ${
          JSON.stringify(value)
        }`,
      );
    }
  }
}
