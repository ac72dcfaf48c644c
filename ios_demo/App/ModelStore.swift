// Foundation's FileManager on iOS, and security-scoped URLs
// (startAccessingSecurityScopedResource) for files picked with SwiftUI's fileImporter.
import CamkitCore
import Foundation

/// Where the app keeps what it runs and what it measured, in its Documents folder (visible in
/// the Files app and in Finder's file sharing: Info.plist UIFileSharingEnabled and
/// LSSupportsOpeningDocumentsInPlace, project.yml):
/// `camkit/artifacts/` (manifests, .mlpackage folders, samples, flat, as `camkit app push --ios`
/// copies them) and `camkit/results/` (result JSON).
enum StorePaths {
    static var documents: URL {
        FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
    }

    static var artifacts: URL { documents.appendingPathComponent("camkit/artifacts", isDirectory: true) }

    static var results: URL { documents.appendingPathComponent("camkit/results", isDirectory: true) }

    static func createFolders() throws {
        for url in [artifacts, results] { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
    }

    /// A plain file name (no folder, not hidden): what the headless arguments may name.
    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && !name.hasPrefix(".")
    }

    /// Writes `text` to results/`name`: to `name`.partial first, then renamed into place, so a
    /// reader polling for `name` never sees half a file.
    @discardableResult
    static func writeResult(_ text: String, name: String) throws -> URL {
        try createFolders()
        let target = results.appendingPathComponent(name)
        let partial = results.appendingPathComponent(name + ".partial")
        try Data(text.utf8).write(to: partial)
        guard rename(partial.path, target.path) == 0 else {
            throw CamkitError("cannot rename \(partial.lastPathComponent) to \(name) (errno \(errno))")
        }
        return target
    }
}

/// One manifest in the store, read (sha256s unchecked: that is done before a run) or refused.
struct StoredManifest: Identifiable {
    let file: URL
    let manifest: Manifest?
    let problem: String?
    var id: String { file.lastPathComponent }
    var name: String { file.lastPathComponent }
}

/// The manifests in `camkit/artifacts/`, and imports into it.
@MainActor
final class ModelStore: ObservableObject {
    @Published private(set) var manifests: [StoredManifest] = []
    @Published var lastError: String?

    init() {
        do {
            try StorePaths.createFolders()
        } catch {
            lastError = "cannot create the app's folders: \(error.localizedDescription)"
        }
        refresh()
    }

    /// Core ML manifests first-class; others listed with why the app cannot run them.
    func refresh() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: StorePaths.artifacts.path)) ?? []
        manifests = names.filter { $0.hasSuffix(".manifest.json") }.sorted().map { name in
            let file = StorePaths.artifacts.appendingPathComponent(name)
            do {
                let manifest = try Manifest.read(file, verifySha256: false)
                guard manifest.format == "coreml" else {
                    return StoredManifest(file: file, manifest: nil,
                                          problem: "a \(manifest.format) artifact: the iOS app runs Core ML packages")
                }
                return StoredManifest(file: file, manifest: manifest, problem: nil)
            } catch {
                return StoredManifest(file: file, manifest: nil, problem: error.localizedDescription)
            }
        }
    }

    /// Copies what the user picked into `camkit/artifacts/`: files as they are, an .mlpackage
    /// folder whole, and of any other folder (an export's `<model>/<variant>/`) its contents,
    /// one level deep. Returns how many items were copied.
    @discardableResult
    func importItems(_ urls: [URL]) -> Int {
        var copied = 0
        for url in urls {
            let scoped = url.startAccessingSecurityScopedResource()
            defer { if scoped { url.stopAccessingSecurityScopedResource() } }
            do {
                var isDirectory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
                if isDirectory.boolValue && url.pathExtension != "mlpackage" {
                    for name in try FileManager.default.contentsOfDirectory(atPath: url.path) where !name.hasPrefix(".") {
                        try copy(url.appendingPathComponent(name))
                        copied += 1
                    }
                } else {
                    try copy(url)
                    copied += 1
                }
            } catch {
                lastError = "cannot import \(url.lastPathComponent): \(error.localizedDescription)"
            }
        }
        refresh()
        return copied
    }

    /// Removes a manifest and the files it names (the package, its sample).
    func delete(_ entry: StoredManifest) {
        var urls = [entry.file]
        if let manifest = entry.manifest {
            urls.append(manifest.artifact())
            if let sample = manifest.sample() { urls.append(sample) }
            if let features = manifest.features() { urls.append(features) }
        }
        for url in urls { try? FileManager.default.removeItem(at: url) }
        refresh()
    }

    private func copy(_ source: URL) throws {
        let target = StorePaths.artifacts.appendingPathComponent(source.lastPathComponent)
        if FileManager.default.fileExists(atPath: target.path) { try FileManager.default.removeItem(at: target) }
        try FileManager.default.copyItem(at: source, to: target)
    }
}
