// SwiftUI (iOS 17 SDK): fileImporter(isPresented:allowedContentTypes:allowsMultipleSelection:onCompletion:)
// with UniformTypeIdentifiers' UTType.folder / .item; List, swipe to delete, refreshable.
import CamkitCore
import SwiftUI
import UniformTypeIdentifiers

/// The artifacts in `Documents/camkit/artifacts`: pushed by `camkit app push --ios`, copied in
/// with Finder or the Files app, or imported here (a folder of an export, or files and an
/// .mlpackage). "Verify" checks every sha256 the manifest names.
struct ModelsScreen: View {
    @State private var importing = false
    @State private var verdicts: [String: String] = [:]
    @EnvironmentObject private var store: ModelStore

    var body: some View {
        NavigationStack {
            List {
                Section {
                    if store.manifests.isEmpty {
                        Text("No manifests yet.").foregroundStyle(.secondary)
                    }
                    ForEach(store.manifests) { entry in
                        VStack(alignment: .leading, spacing: 4) {
                            Text(entry.name).font(.subheadline.bold())
                            if let m = entry.manifest {
                                Text("\(m.modelId) \(m.variant) \(m.precision), \(m.inputs.map { "\($0.name) \($0.shape)" }.joined(separator: ", "))")
                                    .font(.caption)
                                Text("full resolution: \(m.fullResolution?.strategy ?? "none")").font(.caption)
                                Button(verdicts[entry.name] ?? "Verify sha256") { verify(entry) }.font(.caption)
                            } else {
                                Text(entry.problem ?? "").font(.caption).foregroundStyle(.red)
                            }
                        }
                    }
                    .onDelete { offsets in
                        let entries = offsets.map { store.manifests[$0] }
                        for entry in entries { store.delete(entry) }
                    }
                } footer: {
                    Text("Files app: On My iPhone › camkit › camkit › artifacts. Finder: the iPhone's Files tab › camkit. "
                         + "From a Mac: camkit app push --ios --device UDID MANIFEST.")
                }
                if let error = store.lastError {
                    Section("Last problem") { Text(error).foregroundStyle(.red) }
                }
            }
            .navigationTitle("Models")
            .toolbar {
                Button { importing = true } label: { Label("Import", systemImage: "square.and.arrow.down") }
                Button { store.refresh() } label: { Label("Refresh", systemImage: "arrow.clockwise") }
            }
            .refreshable { store.refresh() }
            .fileImporter(isPresented: $importing, allowedContentTypes: [.folder, .item], allowsMultipleSelection: true) { result in
                switch result {
                case let .success(urls): store.importItems(urls)
                case let .failure(error): store.lastError = error.localizedDescription
                }
            }
        }
    }

    private func verify(_ entry: StoredManifest) {
        verdicts[entry.name] = "verifying…"
        let file = entry.file
        Task {
            let verdict = await Task.detached(priority: .userInitiated) { () -> String in
                do {
                    _ = try Manifest.read(file, verifySha256: true)
                    return "sha256 verified"
                } catch {
                    return error.localizedDescription
                }
            }.value
            verdicts[entry.name] = verdict
        }
    }
}
