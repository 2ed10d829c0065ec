// QATToolkit
