/**
 * Disjoint sets over the indices 0..n-1 (union-find with path halving): the connected components
 * of the duplicate and similarity graphs, built one edge at a time without keeping the edges.
 */
export class UnionFind {
  private readonly parent: Int32Array;

  constructor(size: number) {
    this.parent = Int32Array.from({ length: size }, (_, i) => i);
  }

  /** The root of i's set. */
  find(i: number): number {
    const parent = this.parent;
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  }

  /**
   * Joins two sets by their roots (from `find`); `root` stays the root, so what a caller keeps
   * per root moves from `other` to it.
   */
  join(root: number, other: number): void {
    this.parent[other] = root;
  }

  /** Each root with the members of its set, ascending; roots in the order of their lowest member. */
  sets(): Map<number, number[]> {
    const sets = new Map<number, number[]>();
    for (let i = 0; i < this.parent.length; i += 1) {
      const root = this.find(i);
      const members = sets.get(root);
      if (members) members.push(i);
      else sets.set(root, [i]);
    }
    return sets;
  }
}
