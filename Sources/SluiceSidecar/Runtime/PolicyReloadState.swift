import Foundation

/// Decides whether a policy file's text needs loading: only a version (hash of the text)
/// that is neither the one in force nor one already rejected. A forced check (SIGHUP)
/// tries a rejected version again so its diagnostics are logged anew.
public struct PolicyReloadState: Sendable, Equatable {
    /// What to do with the text just read.
    public enum Decision: Sendable, Equatable {
        /// The text is the policy in force: nothing to do.
        case unchanged
        /// The text was already rejected and nothing forces another try.
        case alreadyRejected
        /// Load, check and, if valid, swap in this version.
        case load
    }

    /// The version in force.
    public private(set) var current: String
    /// The last version that failed to load, if the file still holds it.
    public private(set) var rejected: String?

    public init(current: String) {
        self.current = current
    }

    /// What to do with text of `version`; `forced` for an explicit request (SIGHUP).
    public func decide(version: String, forced: Bool) -> Decision {
        if version == current { return .unchanged }
        if version == rejected, !forced { return .alreadyRejected }
        return .load
    }

    /// `version` is now in force.
    public mutating func loaded(_ version: String) {
        current = version
        rejected = nil
    }

    /// `version` failed to load; the version in force stays.
    public mutating func failed(_ version: String) {
        rejected = version
    }
}

/// A short, stable fingerprint of a policy's text (FNV-1a, 64 bits, hex): its version.
public enum PolicyFingerprint {
    public static func of(_ bytes: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
