import Yams

/// Bounds the work of loading a policy: YAML anchors and aliases let a small file expand to
/// a huge tree (each alias stands for a copy of its anchor's node), which the decoder and
/// validator would walk in full, reporting on every copy.
enum NodeBudget {
    /// More nodes than this, aliases expanded, and the file is refused (a policy of a few
    /// thousand models and routes stays well below it).
    static let maximumNodes = 100_000

    /// Whether `root`, aliases expanded, has at most `limit` nodes. Walks without recursion
    /// and stops as soon as the count goes over.
    static func fits(_ root: Node, limit: Int = maximumNodes) -> Bool {
        var pending = [root]
        var count = 0
        while let node = pending.popLast() {
            count += 1
            if count > limit { return false }
            switch node {
            case .scalar, .alias:
                break
            case .mapping(let mapping):
                for (key, value) in mapping {
                    pending.append(key)
                    pending.append(value)
                }
            case .sequence(let sequence):
                pending.append(contentsOf: sequence)
            }
        }
        return true
    }
}
