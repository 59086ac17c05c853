/** Folder and file icons drawn in SVG: they look the same with or without an emoji font installed. */
const style = { verticalAlign: -2, marginRight: 3 };
export function FolderIcon() {
  return (
    <svg className="file-icon" style={style} viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
      <path d="M1.5 3.5h4.2l1.4 1.6h7.4v8.4h-13z" fill="currentColor" opacity="0.25" stroke="currentColor" strokeWidth="1" />
    </svg>
  );
}

export function FileIcon() {
  return (
    <svg className="file-icon" style={style} viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
      <path d="M3.5 1.5h6l3 3v10h-9z M9.5 1.5v3h3" fill="none" stroke="currentColor" strokeWidth="1" />
    </svg>
  );
}
