import Foundation
import Yams

/// Reads a policy file (YAML) into a checked ``Policy``, reporting every problem at once.
///
/// Loading runs in three steps: Yams composes the YAML into position-carrying nodes,
/// `PolicyDecoder` walks them (shape, types, unknown and missing keys) and
/// `PolicyValidator` checks values and references. Any diagnostic fails the load.
public enum PolicyLoader {
    /// Reads and checks a policy file; throws PolicyError listing every problem.
    public static func load(contentsOf path: String) throws(PolicyError) -> Policy {
        let yaml: String
        switch read(path) {
        case .success(let text): yaml = text
        case .failure(let message):
            throw PolicyError(diagnostics: [
                PolicyDiagnostic(file: path, line: 1, column: 1, field: "", message: message),
            ])
        }
        return try load(yaml: yaml, file: path)
    }

    /// Parses and checks policy YAML; `file` is only used to label diagnostics.
    public static func load(yaml: String, file: String) throws(PolicyError) -> Policy {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw PolicyError(diagnostics: [YAMLErrorDiagnostic.diagnostic(for: error, file: file)])
        }
        if let root, !NodeBudget.fits(root) {
            throw PolicyError(diagnostics: [
                PolicyDiagnostic(
                    file: file, line: 1, column: 1, field: "",
                    message: "policy too large: more than \(NodeBudget.maximumNodes) YAML nodes once anchors and aliases are expanded"
                ),
            ])
        }
        var decoder = PolicyDecoder(file: file)
        let draft = decoder.decode(root)
        var diagnostics = decoder.diagnostics
        PolicyValidator.validate(draft, into: &diagnostics)
        guard diagnostics.isEmpty else { throw diagnostics.error }
        return draft.makePolicy()
    }

    private enum ReadResult {
        case success(String)
        case failure(String)
    }

    private static func read(_ path: String) -> ReadResult {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return .failure("cannot read policy file: no such file")
        }
        guard !isDirectory.boolValue else {
            return .failure("cannot read policy file: it is a directory")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure("cannot read policy file: permission denied or I/O error")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            return .failure("cannot read policy file: not valid UTF-8")
        }
        return .success(text)
    }
}
