/** The application menu as a template (Menu.buildFromTemplate), built without Electron so it can be tested. */
interface MenuActions {
  openRunsFolder(): void;
  openDocs(): void;
}

type MenuItem = {
  label?: string;
  role?: string;
  type?: 'separator';
  accelerator?: string;
  click?: () => void;
  submenu?: MenuItem[];
};

export function buildMenuTemplate(platform: string, actions: MenuActions, opts: { devTools?: boolean } = {}): MenuItem[] {
  const isMac = platform === 'darwin';
  const view: MenuItem[] = [
    { role: 'reload' },
    { role: 'resetZoom' },
    { role: 'zoomIn' },
    { role: 'zoomOut' },
    { type: 'separator' },
    { role: 'togglefullscreen' },
  ];
  // Developer tools only when asked for (development builds): the page is the user's, not a console.
  if (opts.devTools) view.push({ role: 'toggleDevTools' });
  return [
    ...(isMac
      ? [
          {
            label: 'LoRA Studio',
            submenu: [
              { role: 'about' },
              { type: 'separator' as const },
              { role: 'hide' },
              { role: 'hideOthers' },
              { type: 'separator' as const },
              { role: 'quit' },
            ],
          },
        ]
      : []),
    {
      label: 'File',
      submenu: [
        { label: 'Open Runs Folder', accelerator: 'CmdOrCtrl+Shift+R', click: actions.openRunsFolder },
        { type: 'separator' },
        { role: isMac ? 'close' : 'quit' },
      ],
    },
    {
      label: 'Edit',
      submenu: [
        { role: 'undo' },
        { role: 'redo' },
        { type: 'separator' },
        { role: 'cut' },
        { role: 'copy' },
        { role: 'paste' },
        { role: 'selectAll' },
      ],
    },
    { label: 'View', submenu: view },
    { label: 'Help', submenu: [{ label: 'Documentation', click: actions.openDocs }] },
  ];
}
