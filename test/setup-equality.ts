/**
 * Test equality for ChunkedList (src/model/chunked-list.ts): a list compares equal to an array or
 * another list with the same items, as it prints. Producers return a ChunkedList where they patch
 * a member list and an array where they compute it whole; tests compare the two paths' results.
 */
import { expect } from "vitest";
import { ChunkedList } from "../src/model/index.js";

expect.addEqualityTesters([
  function chunkedListEquals(a, b, testers) {
    if (!(a instanceof ChunkedList) && !(b instanceof ChunkedList)) return undefined;
    const items = (x: unknown) => (x instanceof ChunkedList ? [...x.toArray()] : x);
    return this.equals(items(a), items(b), testers);
  },
]);
